#!/usr/bin/env python
"""Roofline-style account of prediction (energy + forces + virial) on one thread: floating-point
operations and bytes per atom counted from the algorithm, the measured time, and this machine's
measured limits (OpenBLAS DGEMM rate, STREAM-like memory bandwidth) in the same run.

    python bench/roofline_predict.py [--model tests/data/mlearn_Mo_gap/soap.xml] [--atoms 2000]

Counts (n = n_max, L = l_max, K = n·species channels, nlm = (L+1)², d = descriptor dimension,
M = sparse points, N_nb = neighbours inside the cutoff per atom; one FMA = 2 flops):
  per neighbour, value pass:  radial integrals (n Bessel evaluations of L+2 orders ≈ 30 flops
                              each), the n×n basis transform of values and r-derivatives
                              2·2(L+1)n², spherical harmonics with gradients ≈ 30·nlm, density
                              accumulation 2·n·nlm, and 8·(2(L+1)n + 4·nlm) bytes kept for the
                              force pass;
  per neighbour, force pass:  contraction with dE/dX, 2·4·n·nlm;
  per environment:            power spectrum 2·nlm·K(K+1)/2, kernel and its gradient 2·2·M·d
                              (two GEMMs against the sparse points), dE/dX 2·2·nlm·K(K+1)/2.
"""
import argparse
import os
import time

os.environ["OMP_NUM_THREADS"] = "1"
os.environ["OPENBLAS_NUM_THREADS"] = "1"

import numpy as np  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))


def dgemm_rate(n=1536, repeat=3):
    a, b = np.random.rand(n, n), np.random.rand(n, n)
    a @ b
    best = min(_timed(lambda: a @ b) for _ in range(repeat))
    return 2 * n ** 3 / best


def bandwidth(n=50_000_000, repeat=3):
    """Triad a = b + s·c over 3 × 400 MB arrays: 24 bytes moved per element (write-allocate ignored)."""
    a, b, c = np.empty(n), np.random.rand(n), np.random.rand(n)
    best = min(_timed(lambda: np.add(b, np.multiply(c, 3.0, out=a), out=a)) for _ in range(repeat))
    return 3 * 8 * n / best


def _timed(f):
    t = time.perf_counter()
    f()
    return time.perf_counter() - t


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default=os.path.join(HERE, "..", "tests", "data", "mlearn_Mo_gap", "soap.xml"))
    ap.add_argument("--atoms", type=int, default=2000)
    ap.add_argument("--repeat", type=int, default=7)
    args = ap.parse_args()
    from ase.build import bulk
    from ase.neighborlist import neighbor_list

    import soapgap

    pot = soapgap.Potential.load(args.model)
    desc = soapgap.Descriptor(pot.descriptors[0])
    o = {k: v for k, v in (w.split("=", 1) for w in pot.descriptors[0].split()[1:])}
    n, L = int(o["n_max"]), int(o["l_max"])
    species = max(1, len(o.get("species_Z", "{}").strip("{}").split()))
    K, nlm, d, M, rc = n * species, (L + 1) ** 2, desc.dimension, pot.n_sparse, float(o["cutoff"])
    reps = round((args.atoms / 2) ** (1 / 3))
    atoms = bulk("Mo", "bcc", a=3.16, cubic=True).repeat((reps, reps, reps))
    atoms.rattle(0.05, seed=1)
    nb = len(neighbor_list("i", atoms, rc)) / len(atoms)

    per_nb_value = n * (L + 2) * 30 + 2 * 2 * (L + 1) * n * n + 30 * nlm + 2 * n * nlm
    per_nb_force = 2 * 4 * n * nlm
    pairs = K * (K + 1) // 2
    per_env = 2 * nlm * pairs + 2 * 2 * M * d + 2 * 2 * nlm * pairs
    flops = nb * (per_nb_value + per_nb_force) + per_env
    kept = 8 * (2 * (L + 1) * n + 4 * nlm)  # bytes per neighbour written then read (cache-resident)
    sparse_bytes = 8 * M * d  # the sparse matrix, read once per block of centres (~33 at n = l = 8)
    block = 33
    dram = 8 * 3 * (3 + 3) + 8 * d * 2 + sparse_bytes / block  # positions/forces, values, sparse share

    pot.predict(atoms)
    t = min(_timed(lambda: pot.predict(atoms)) for _ in range(args.repeat)) / len(atoms)
    peak, bw = dgemm_rate(), bandwidth()
    rate = flops / t
    print(f"model: {os.path.basename(args.model)}: n={n} l={L} K={K} d={d} M={M} cutoff={rc} Å; "
          f"{len(atoms)} atoms, {nb:.1f} neighbours/atom")
    print("| quantity | per atom |\n|---|---|")
    print(f"| flops, neighbour terms (value + force pass) | {nb * (per_nb_value + per_nb_force) / 1e3:.0f} k |")
    print(f"| flops, environment terms (power spectrum, 2 kernel GEMMs, dE/dX) | {per_env / 1e3:.0f} k |")
    print(f"| flops, total | {flops / 1e3:.0f} k |")
    print(f"| bytes kept between passes (cache-resident, written and read) | {2 * nb * kept / 1e3:.0f} kB |")
    print(f"| bytes from main memory (estimate) | {dram / 1e3:.1f} kB |")
    print(f"| measured time, E+F+W, 1 thread | {t * 1e6:.1f} µs |")
    print(f"| achieved rate | {rate / 1e9:.2f} GFlop/s = {rate / peak:.2f} × DGEMM ({peak / 1e9:.1f} GFlop/s) |")
    print(f"| arithmetic intensity vs main memory | {flops / dram:.0f} flop/byte (machine balance "
          f"{peak / bw:.1f} flop/byte at {bw / 1e9:.1f} GB/s triad) |")


if __name__ == "__main__":
    main()
