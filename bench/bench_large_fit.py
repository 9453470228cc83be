#!/usr/bin/env python
"""A fit at the scale of the largest published GAPs on this machine: the workflows' 'large'
EMT Cu database (157,201 environments, 5251 frames with energies, forces and virials), SOAP
n8 l6 with 9000 CUR sparse points plus a 20-point 2b term. Prints wall time, peak memory
(/usr/bin/time), the kernel-row and QR-fold times from the fit log, and their rates as
fractions of the machine's DGEMM rate measured in the same run (OpenBLAS, same threads).

Takes about an hour on 2 cores.

    python bench/bench_large_fit.py [--threads 2] [--m 9000] [--every 1] [--workdir DIR]

--every K fits every K-th frame only (a quick look at the rates; the flop counts scale).
"""
import argparse
import os
import re
import subprocess
import sys
import time


HERE = os.path.dirname(os.path.abspath(__file__))
GAP = ("soap n_max=8 l_max=6 atom_sigma=0.5 cutoff=5.0 cutoff_transition_width=1.0 delta=0.2 zeta=4 "
       "n_sparse={m} sparse_method=cur_points : distance_2b cutoff=5.0 delta=1.0 theta_uniform=0.5 n_sparse=20 "
       "sparse_method=uniform")


def dgemm_rate(threads, n=3000):
    env = dict(os.environ, OPENBLAS_NUM_THREADS=str(threads), OMP_NUM_THREADS=str(threads))
    code = (f"import numpy as np, time\na=np.random.rand({n},{n}); b=np.random.rand({n},{n}); a@b\n"
            "best=1e9\nfor _ in range(3):\n    t=time.perf_counter(); a@b; best=min(best,time.perf_counter()-t)\n"
            f"print(2*{n}**3/best/1e9)")
    return float(subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                                check=True).stdout)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--m", type=int, default=9000)
    ap.add_argument("--every", type=int, default=1)
    ap.add_argument("--workdir", default=os.path.join(HERE, "..", "build", "large_fit"))
    args = ap.parse_args()
    os.makedirs(args.workdir, exist_ok=True)
    train = os.path.join(args.workdir, "large.xyz")
    import ase.io
    from ase.neighborlist import neighbor_list

    if not os.path.exists(train):
        from soapgap.database import build_database

        t = time.perf_counter()
        ase.io.write(train, build_database("Cu", seed=11, size="large"), format="extxyz")
        print(f"database built in {time.perf_counter() - t:.0f} s", flush=True)
    frames = ase.io.read(train, ":")[::args.every]
    if args.every > 1:
        train = os.path.join(args.workdir, f"every{args.every}.xyz")
        ase.io.write(train, frames, format="extxyz")
    n_env = sum(len(a) for a in frames)
    entries = sum(len(neighbor_list("i", a, 5.0)) + len(a) for a in frames if len(a) > 1)
    cli = os.path.join(os.path.dirname(sys.executable), "soapgap")
    cmd = ["/usr/bin/time", "-v", cli, "fit", "--train", train, "--gap", GAP.format(m=args.m),
           "--default-sigma", "0.002 0.1 0.05", "--config-type-sigma", "isolated_atom:0.0001:0.01:0.01",
           "--sparse-jitter", "1e-8", "--output", os.path.join(args.workdir, "model.json"), "--overwrite"]
    t = time.perf_counter()
    p = subprocess.run(cmd, capture_output=True, text=True, env=dict(os.environ, OMP_NUM_THREADS=str(args.threads)))
    wall = time.perf_counter() - t
    if p.returncode:
        sys.exit(p.stdout[-3000:] + p.stderr[-3000:])
    rss = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", p.stderr).group(1)) / 1024 ** 2
    rows = int(re.search(r"\[assembly\] (\d+) rows", p.stdout).group(1))
    m = re.search(r"kernel rows ([\d.]+) s, QR fold ([\d.]+) s", p.stdout)
    t_rows, t_fold = float(m.group(1)), float(m.group(2))
    M = args.m + 20
    d = 253
    flops_rows = 2.0 * 3 * entries * d * args.m  # G·Sᵀ of every gradient entry (SOAP term)
    flops_fold = 2.0 * rows * M * M
    peak = dgemm_rate(args.threads)
    print(p.stdout[-1500:])
    print(f"{len(frames)} frames, {n_env} environments, {entries} gradient entries, {rows} rows, M = {M}")
    print(f"wall {wall / 60:.1f} min, peak RSS {rss:.2f} GB; DGEMM {peak:.0f} GFlop/s on {args.threads} thread(s)")
    print(f"kernel rows {t_rows:.0f} s: {flops_rows / 1e12:.1f} TFlop, {flops_rows / t_rows / 1e9:.0f} GFlop/s "
          f"= {flops_rows / t_rows / 1e9 / peak:.2f} x DGEMM")
    print(f"QR fold {t_fold:.0f} s: {flops_fold / 1e12:.1f} TFlop, {flops_fold / t_fold / 1e9:.0f} GFlop/s "
          f"= {flops_fold / t_fold / 1e9 / peak:.2f} x DGEMM")
    print(f"lower bound at the DGEMM rate: {(flops_rows + flops_fold) / peak / 1e9 / 60:.0f} min")


if __name__ == "__main__":
    main()
