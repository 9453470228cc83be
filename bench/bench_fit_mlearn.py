#!/usr/bin/env python
"""Fitting cost and held-out accuracy on the mlearn Si/Mo sets with the published mlearn GAP
recipe, soapgap vs gap_fit (optional, slow) in the same run.

    python bench/bench_fit_mlearn.py [--elements Si,Mo] [--gap-fit] [--seeds 42] [--threads 2]

Each fit runs as a separate process under /usr/bin/time -v (wall time, peak RSS); test errors
come from `soapgap eval` on ../shared/data/mlearn_<El>/test.xyz (gap_fit's XML is read by
soapgap, whose predictions equal quip's to 1e-9 eV).
"""
import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile

RECIPE = {"Si": (5.4, 1000, -0.79), "Mo": (5.2, 2000, -4.04)}  # cutoff, n_sparse, e0 (SOURCES.md)


def shared_data():
    here = os.path.dirname(os.path.abspath(__file__))
    for d in (os.environ.get("SOAPGAP_SHARED_DATA"), os.path.join(here, "..", "..", "shared", "data")):
        if d and os.path.isdir(d):
            return d
    sys.exit("../shared/data not found (set SOAPGAP_SHARED_DATA)")


def timed(cmd, cwd, env):
    p = subprocess.run(["/usr/bin/time", "-v", *cmd], cwd=cwd, env=env, capture_output=True, text=True)
    if p.returncode != 0:
        sys.exit(f"{cmd[0]} failed:\n{p.stdout[-2000:]}\n{p.stderr[-2000:]}")
    wall = re.search(r"Elapsed \(wall clock\) time.*: (.*)", p.stderr).group(1)
    parts = [float(x) for x in wall.split(":")]
    secs = sum(v * 60 ** i for i, v in enumerate(reversed(parts)))
    rss = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", p.stderr).group(1)) / 1024 ** 2
    return secs, rss


def test_errors(soapgap, model, test, cwd):
    out = subprocess.run([soapgap, "eval", "--model", model, "--input", test], cwd=cwd, capture_output=True,
                         text=True, check=True).stdout
    row = next(line for line in out.splitlines() if line.startswith("ALL")).split()
    return float(row[2]), float(row[5])  # E RMSE meV/atom, F RMSE eV/Å


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--elements", default="Si,Mo")
    p.add_argument("--gap-fit", action="store_true", help="also run gap_fit (minutes and GiB per fit)")
    p.add_argument("--seeds", default="42")
    p.add_argument("--threads", type=int, default=2)
    a = p.parse_args()
    data = shared_data()
    soapgap = shutil.which("soapgap") or sys.exit("soapgap not on PATH")
    env = {**os.environ, "OMP_NUM_THREADS": str(a.threads)}
    rows = []
    for el in a.elements.split(","):
        rc, m, e0 = RECIPE[el]
        for seed in a.seeds.split(","):
            args = [f"at_file={data}/mlearn_{el}/training.xyz",
                    f"gap={{soap l_max=8 n_max=8 atom_sigma=0.5 zeta=4 cutoff={rc} cutoff_transition_width=0.5 "
                    f"delta=1.0 f0=0.0 n_sparse={m} covariance_type=dot_product sparse_method=cur_points}}",
                    "default_sigma={0.01 0.05 0.01 1}", f"e0={e0}", "sparse_jitter=1e-8", "energy_parameter_name=energy",
                    "force_parameter_name=forces", "virial_parameter_name=no_virial_key", f"rnd_seed={seed}"]
            tmp = tempfile.mkdtemp()
            test = f"{data}/mlearn_{el}/test.xyz"
            t, rss = timed([soapgap, "fit", *args, "gp_file=model.json", "--quiet"], tmp, env)
            rows.append((el, seed, "soapgap", t, rss, *test_errors(soapgap, "model.json", test, tmp)))
            print(rows[-1], flush=True)
            if a.gap_fit:
                gf = shutil.which("gap_fit") or sys.exit("gap_fit not on PATH (pip install quippy-ase)")
                t, rss = timed([gf, *args, "gp_file=gap.xml"], tmp, env)
                rows.append((el, seed, "gap_fit", t, rss, *test_errors(soapgap, "gap.xml", test, tmp)))
                print(rows[-1], flush=True)
            shutil.rmtree(tmp)
    print("\n| set | rnd_seed | code | wall s | peak RSS GiB | test E RMSE meV/atom | test F RMSE eV/Å |")
    print("|---|---|---|---|---|---|---|")
    for el, seed, code, t, rss, e, f in rows:
        print(f"| mlearn {el} | {seed} | {code} | {t:.0f} | {rss:.2f} | {e:.2f} | {f:.4f} |")


if __name__ == "__main__":
    main()
