"""Structure kernels: soapgap against DScribe on the same QM7 molecules, same run.

Both codes get the same local descriptors (soapgap's unit-normalised SOAP rows), so the
comparison is of the kernel step only: environment kernels (x·y)^zeta and the reduction
(average; REMatch with DScribe's default convergence threshold, and soapgap's marginal
tolerance). Descriptor time is reported separately.

    .venv/bin/python bench/bench_structure_kernels.py --n 500 --threads 2
"""
import argparse
import json
import os
import time

import numpy as np

DEFAULT_DATA = os.path.join(os.path.dirname(__file__), "..", "..", "shared", "data", "qm7_qml", "qm7.xyz")
DESC = "soap n_max=6 l_max=4 atom_sigma=0.4 cutoff=4 n_species=5 species_Z={1 6 7 8 16}"


def best_of(fn, repeat):
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t)
    return min(times), out


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", default=DEFAULT_DATA)
    p.add_argument("--n", type=int, default=500)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--gamma", type=float, default=0.1)
    p.add_argument("--zeta", type=int, default=2)
    p.add_argument("--json")
    a = p.parse_args()
    os.environ["OMP_NUM_THREADS"] = str(a.threads)
    os.environ["OPENBLAS_NUM_THREADS"] = str(a.threads)
    import ase.io
    from dscribe.kernels import AverageKernel, REMatchKernel

    from soapgap.similarity import Environments, structure_kernel

    frames = ase.io.read(a.data, f":{a.n}")
    t_desc, env = best_of(lambda: Environments(frames, DESC), 3)
    X = env.per_structure()
    rows = []

    t_ours, K_ours = best_of(lambda: structure_kernel(env, kind="average", zeta=a.zeta), 3)
    t_theirs, K_theirs = best_of(lambda: AverageKernel(metric="polynomial", degree=a.zeta, gamma=1, coef0=0).create(X), 1)
    rows.append(("average", t_ours, t_theirs, float(np.abs(K_ours - K_theirs).max())))

    t_ours, K_ours = best_of(lambda: structure_kernel(env, kind="rematch", zeta=a.zeta, gamma=a.gamma, tolerance=1e-6), 1)
    rk = REMatchKernel(metric="polynomial", degree=a.zeta, gamma=1, coef0=0, alpha=a.gamma)
    t_theirs, K_theirs = best_of(lambda: rk.create(X), 1)
    rows.append((f"rematch gamma={a.gamma}", t_ours, t_theirs, float(np.abs(K_ours - K_theirs).max())))

    print(f"{a.n} QM7 molecules ({env.rows.shape[0]} environments, dim {env.rows.shape[1]}), zeta={a.zeta}, "
          f"{a.threads} thread(s); soapgap descriptors {t_desc:.2f} s")
    print("| kernel | soapgap (s) | DScribe (s) | DScribe/soapgap | max |ΔK| |")
    print("|---|---|---|---|---|")
    for name, ours, theirs, diff in rows:
        print(f"| {name} | {ours:.2f} | {theirs:.1f} | {theirs / ours:.0f} | {diff:.1e} |")
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"n": a.n, "threads": a.threads, "descriptor_s": t_desc,
                       "rows": [dict(zip(("kernel", "soapgap_s", "dscribe_s", "max_diff"), r)) for r in rows]}, f, indent=1)


if __name__ == "__main__":
    main()
