#!/usr/bin/env python
"""Distributed fit: wall time and peak memory per rank for P = 1, 2, 4 ranks of
`mpirun.openmpi -np P soapgap-mpi fit` (one OpenMP thread per rank), beside the serial program
with 1 and 2 threads, on the same EMT Cu set; each model's weights and predictions (energies and
forces of 20 frames) compared with the serial one-thread model.

On this 2-core machine P = 4 is oversubscribed: it shows the memory per rank falling, not speed.

    python bench/bench_mpi.py [--frames 1000] [--m 1000] [--out bench/mpi_results.json]
"""
import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from bench_scaling import emt_set  # noqa: E402

GAP = ("soap n_max=8 l_max=6 atom_sigma=0.5 cutoff=4.5 cutoff_transition_width=1.0 delta=0.2 zeta=4 "
       "n_sparse={m} sparse_method=cur_points")


def run_fit(cmd, threads):
    t = time.perf_counter()
    p = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, "OMP_NUM_THREADS": str(threads)})
    wall = time.perf_counter() - t
    if p.returncode:
        sys.exit(p.stdout[-3000:] + p.stderr[-3000:])
    rss = re.search(r"\[memory\] peak RSS(?: per rank:)?((?: [\d.]+ MB)+)", p.stdout)
    per_rank = [float(x) for x in re.findall(r"([\d.]+) MB", rss.group(1))]
    combine = re.search(r"\[solve\] factors of \d+ ranks combined in ([\d.e+-]+) s", p.stdout)
    return {"wall_s": wall, "peak_rss_mb": per_rank, "combine_s": float(combine.group(1)) if combine else 0.0}


def predictions(path, frames):
    import soapgap

    pot = soapgap.Potential.load(path)
    return np.concatenate([np.concatenate([[r["energy"]], np.ravel(r["forces"])])
                           for r in (pot.predict(a) for a in frames)])


def alphas(path):
    import base64

    payload = json.load(open(path))["payload"]
    return np.concatenate([np.frombuffer(base64.b64decode(c["alpha"]["float64_base64"]), dtype="<f8")
                           for c in payload["coordinates"]])


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--frames", type=int, default=1000, help="108-atom frames (default 1000: 108,000 environments)")
    ap.add_argument("--m", type=int, default=1000, help="sparse points")
    ap.add_argument("--out", default=os.path.join(HERE, "mpi_results.json"))
    args = ap.parse_args()
    venv_bin = os.path.dirname(sys.executable)
    serial = os.path.join(venv_bin, "soapgap")
    mpi = os.path.join(venv_bin, "soapgap-mpi")
    mpirun = shutil.which("mpirun.openmpi")
    for p in (serial, mpi, mpirun):
        if not p or not os.path.exists(p):
            sys.exit(f"missing {p}: run ./install.sh first")
    import ase.io

    tmp = tempfile.mkdtemp()
    train = os.path.join(tmp, "train.xyz")
    t = time.perf_counter()
    frames = emt_set(args.frames, seed=3)
    ase.io.write(train, frames, format="extxyz")
    n_env = sum(len(a) for a in frames)
    print(f"{args.frames} frames, {n_env} environments, {n_env * 3 + 7 * args.frames} rows; "
          f"labelled in {time.perf_counter() - t:.0f} s", flush=True)
    base = ["fit", "--train", train, "--gap", GAP.format(m=args.m), "--e0", "0", "--default-sigma", "0.001 0.05 0.01",
            "--overwrite"]
    results = []
    ref = os.path.join(tmp, "serial.json")
    check = frames[:20]

    def compare(path):
        p, p0 = predictions(path, check), predictions(ref, check)
        a, a0 = alphas(path), alphas(ref)
        return {"alpha_rel_diff": float(np.max(np.abs(a - a0)) / np.max(np.abs(a0))),
                "prediction_rel_diff": float(np.max(np.abs(p - p0)) / np.max(np.abs(p0)))}

    for threads in (1, 2):
        out = ref if threads == 1 else os.path.join(tmp, "serial2.json")
        r = run_fit([serial, *base, "--output", out], threads)
        results.append({"run": f"serial, {threads} thread(s)", **r, **compare(out)})
        print(results[-1], flush=True)
    for ranks, solver in [(1, "tsqr"), (2, "tsqr"), (4, "tsqr"), (4, "scalapack")]:
        out = os.path.join(tmp, f"p{ranks}-{solver}.json")
        cmd = [mpirun, "--allow-run-as-root", "--oversubscribe", "-np", str(ranks), mpi, *base, "--output", out,
               "--solver", solver]
        r = run_fit(cmd, 1)
        results.append({"run": f"mpirun -np {ranks}, {solver}, 1 thread/rank", **r, **compare(out)})
        print(results[-1], flush=True)
    json.dump({"frames": args.frames, "environments": n_env, "m": args.m, "gap": GAP.format(m=args.m),
               "results": results}, open(args.out, "w"), indent=1)
    print("| run | wall (s) | peak RSS per rank (MB) | combine (s) | rel. Δ predictions | rel. Δα |")
    print("|---|---|---|---|---|---|")
    for r in results:
        print(f"| {r['run']} | {r['wall_s']:.1f} | {' / '.join(f'{x:.0f}' for x in r['peak_rss_mb'])} | "
              f"{r['combine_s']:.3f} | {r['prediction_rel_diff']:.1e} | {r['alpha_rel_diff']:.1e} |")
    shutil.rmtree(tmp)


if __name__ == "__main__":
    main()
