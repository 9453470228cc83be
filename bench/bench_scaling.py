#!/usr/bin/env python
"""Scaling of fit and prediction, with fitted exponents and two PNGs (bench/scaling_fit.png,
bench/scaling_predict.png):
  fit wall time and peak memory against N (training environments, M fixed) and M (sparse points,
  N fixed), each fit a separate `soapgap fit` process under /usr/bin/time;
  prediction time against the number of atoms (published Mo GAP) and against M.
Training data: rattled fcc Cu supercells labelled by ASE's EMT (energies, forces, virials).

    python bench/bench_scaling.py [--threads 2] [--out bench]
"""
import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
GAP = ("soap n_max=6 l_max=4 atom_sigma=0.5 cutoff=4.5 cutoff_transition_width=1.0 delta=0.2 zeta=4 "
       "n_sparse={m} sparse_method=cur_points")


def emt_set(n_frames, seed=0):
    from ase.build import bulk
    from ase.calculators.emt import EMT
    from ase.calculators.singlepoint import SinglePointCalculator

    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n_frames):
        a = bulk("Cu", "fcc", a=3.61 * rng.uniform(0.97, 1.03), cubic=True).repeat((3, 3, 3))
        a.positions += rng.normal(scale=0.1, size=a.positions.shape)
        a.calc = EMT()
        a.calc = SinglePointCalculator(a, energy=a.get_potential_energy(), forces=a.get_forces(), stress=a.get_stress())
        out.append(a)
    return out


def timed_fit(cli, train, m, model, threads):
    cmd = ["/usr/bin/time", "-v", cli, "fit", "--train", train, "--gap", GAP.format(m=m), "--e0", "0",
           "--default-sigma", "0.001 0.05 0.01", "--output", model, "--overwrite", "--quiet"]
    p = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, "OMP_NUM_THREADS": str(threads),
                                                                   "OPENBLAS_NUM_THREADS": str(threads)})
    if p.returncode:
        sys.exit(p.stdout[-2000:] + p.stderr[-2000:])
    wall = [float(x) for x in re.search(r"Elapsed \(wall clock\) time.*: (.*)", p.stderr).group(1).split(":")]
    rss = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", p.stderr).group(1)) / 1024
    return sum(v * 60 ** i for i, v in enumerate(reversed(wall))), rss


def predict_time(pot, atoms, repeat=10):
    pot.predict(atoms)
    best = 1e9
    for _ in range(repeat):
        t = time.perf_counter()
        pot.predict(atoms)
        best = min(best, time.perf_counter() - t)
    return best


def exponent(x, y):
    return np.polyfit(np.log(x), np.log(y), 1)[0]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", default=HERE)
    args = ap.parse_args()
    os.environ["OMP_NUM_THREADS"] = "1"  # prediction timings: one thread
    import ase.io
    from ase.build import bulk

    import soapgap

    cli = shutil.which("soapgap") or sys.exit("soapgap not on PATH")
    work = tempfile.mkdtemp(prefix="bench_scaling_")
    frames = emt_set(300)
    rows_n, rows_m = [], []
    for n_frames in (25, 50, 100, 200, 300):  # 108 atoms each
        path = os.path.join(work, f"train{n_frames}.xyz")
        ase.io.write(path, frames[:n_frames])
        wall, rss = timed_fit(cli, path, 500, os.path.join(work, "m.json"), args.threads)
        rows_n.append((n_frames * 108, wall, rss))
        print(f"fit N={n_frames * 108:6d} M=500: {wall:6.1f} s {rss:7.0f} MB", flush=True)
    path = os.path.join(work, "train100.xyz")
    models = {}
    for m in (250, 500, 1000, 2000, 4000):
        model = os.path.join(work, f"m{m}.json")
        wall, rss = timed_fit(cli, path, m, model, args.threads)
        rows_m.append((m, wall, rss))
        models[m] = model
        print(f"fit N=10800 M={m:5d}: {wall:6.1f} s {rss:7.0f} MB", flush=True)
    mo = soapgap.Potential.load(os.path.join(HERE, "..", "tests", "data", "mlearn_Mo_gap", "soap.xml"))
    rows_atoms = []
    for reps in (4, 6, 8, 10, 13, 16):
        atoms = bulk("Mo", "bcc", a=3.16, cubic=True).repeat((reps, reps, reps))
        atoms.rattle(0.05, seed=1)
        t = predict_time(mo, atoms)
        rows_atoms.append((len(atoms), t))
        print(f"predict Mo GAP {len(atoms):6d} atoms: {t:.3f} s ({t / len(atoms) * 1e6:.1f} µs/atom)", flush=True)
    cu = bulk("Cu", "fcc", a=3.61, cubic=True).repeat((8, 8, 8))
    cu.rattle(0.05, seed=1)
    rows_pm = []
    for m, model in models.items():
        t = predict_time(soapgap.Potential.load(model), cu)
        rows_pm.append((m, t / len(cu)))
        print(f"predict Cu {len(cu)} atoms, M={m:5d}: {t / len(cu) * 1e6:.1f} µs/atom", flush=True)

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(1, 2, figsize=(9, 3.6))
    n, w, r = map(np.array, zip(*rows_n))
    m, wm, rm = map(np.array, zip(*rows_m))
    ax[0].loglog(n, w, "o-", label=f"wall vs N (M=500), slope {exponent(n, w):.2f}")
    ax[0].loglog(m * 10, wm, "s-", label=f"wall vs M (N=10800; x = 10·M), slope {exponent(m, wm):.2f}")
    ax[0].set(xlabel="N environments  /  10·M", ylabel="fit wall time (s)")
    ax[0].legend(fontsize=7)
    ax[1].loglog(n, r, "o-", label=f"peak RSS vs N, slope {exponent(n, r):.2f}")
    ax[1].loglog(m * 10, rm, "s-", label=f"peak RSS vs M, slope {exponent(m, rm):.2f}")
    ax[1].set(xlabel="N environments  /  10·M", ylabel="peak memory (MB)")
    ax[1].legend(fontsize=7)
    fig.suptitle(f"soapgap fit scaling ({args.threads} threads; SOAP n6 l4, EMT Cu, E+F+V)", fontsize=9)
    fig.tight_layout()
    fig.savefig(os.path.join(args.out, "scaling_fit.png"), dpi=120)
    fig, ax = plt.subplots(1, 2, figsize=(9, 3.6))
    na, ta = map(np.array, zip(*rows_atoms))
    ax[0].loglog(na, ta, "o-", label=f"published Mo GAP, slope {exponent(na, ta):.2f}")
    ax[0].set(xlabel="atoms", ylabel="E+F+W time (s), 1 thread")
    ax[0].legend(fontsize=7)
    mp, tp = map(np.array, zip(*rows_pm))
    ax[1].loglog(mp, tp * 1e6, "s-", label=f"Cu SOAP n6 l4, slope {exponent(mp, tp):.2f}")
    ax[1].set(xlabel="M sparse points", ylabel="µs/atom, 1 thread")
    ax[1].legend(fontsize=7)
    fig.suptitle("soapgap prediction scaling", fontsize=9)
    fig.tight_layout()
    fig.savefig(os.path.join(args.out, "scaling_predict.png"), dpi=120)
    print(f"exponents: fit wall vs N {exponent(n, w):.2f}, vs M {exponent(m, wm):.2f}; memory vs N {exponent(n, r):.2f}, "
          f"vs M {exponent(m, rm):.2f}; prediction vs atoms {exponent(na, ta):.2f}, per atom vs M {exponent(mp, tp):.2f}")


if __name__ == "__main__":
    main()
