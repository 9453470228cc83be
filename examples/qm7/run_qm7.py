"""QM7 property learning with structure kernels: the documented run behind docs/similarity.md.

7101 molecules (H, C, N, O, S; ../shared/data/qm7_qml, see its SOURCES.md), PBE0 heats of
formation in kcal/mol, a DFTB baseline. For each structure kernel (average, sum of environment
kernels, best-match, REMatch) the full 7101 x 7101 matrix is computed once with `soapgap kernel`
(C++, cached in --work), then a GP is fitted on 5000 random molecules (hyperparameters by
cross-validation inside the training set) and tested on the other 2101; learning curves from 100
to 5000 (3 random training sets per size); Delta-learning on the DFTB baseline with each kernel.

    .venv/bin/python examples/qm7/run_qm7.py --work qm7_work        # about an hour on 2 cores
    .venv/bin/python examples/qm7/run_qm7.py --work qm7_work --n 1000 --train 800   # minutes
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_DATA = os.path.join(HERE, "..", "..", "..", "shared", "data", "qm7_qml", "qm7.xyz")
DESC = "soap n_max=6 l_max=4 atom_sigma=0.4 cutoff=4 n_species=5 species_Z={1 6 7 8 16}"
# name -> `soapgap kernel` options; the sum and the normalised average come from one unnormalised run
KERNELS = {
    "average": ["--kind", "average", "--no-normalise"],
    "best-match": ["--kind", "best-match"],
    "rematch": ["--kind", "rematch", "--gamma", "0.1"],
}


def compute_kernels(data, work, n, soapgap, names):
    os.makedirs(work, exist_ok=True)
    paths = {}
    for name, opts in KERNELS.items():
        if name not in names:
            continue
        path = os.path.join(work, f"K_{name}_n{n}.npy")
        if not os.path.exists(path):
            t = time.time()
            subprocess.run([soapgap, "kernel", "--input", data, "--descriptor", DESC, "--zeta", "2", "--output", path,
                            *opts], check=True)
            print(f"{name}: {time.time() - t:.0f} s", file=sys.stderr)
        paths[name] = path
    return paths


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", default=DEFAULT_DATA)
    p.add_argument("--work", default="qm7_work")
    p.add_argument("--n", type=int, default=7101, help="use the first n molecules")
    p.add_argument("--train", type=int, default=5000)
    p.add_argument("--sizes", default="100,200,500,1000,2000,5000")
    p.add_argument("--splits", type=int, default=3)
    p.add_argument("--folds", type=int, default=3)
    p.add_argument("--kernels", default="average,sum,best-match,rematch", help="which kernels to learn with")
    a = p.parse_args()
    import ase.io

    from soapgap.learning import DEFAULT_EXPONENTS, composition, learn, learning_curve, plot_learning_curves

    frames = ase.io.read(a.data, f":{a.n}")
    n = len(frames)
    data = a.data
    if n < 7101:  # a subset: write it for the kernel program
        data = os.path.join(a.work, f"qm7_first{n}.xyz")
        os.makedirs(a.work, exist_ok=True)
        if not os.path.exists(data):
            ase.io.write(data, frames, format="extxyz")
    soapgap = shutil.which("soapgap") or os.path.join(os.path.dirname(sys.executable), "soapgap")
    wanted = a.kernels.split(",")
    paths = compute_kernels(data, a.work, n, soapgap, {{"sum": "average"}.get(w, w) for w in wanted})
    y = np.array([f.info["hof_pbe0_kcal_mol"] for f in frames])
    dftb = np.array([f.info["hof_dftb_kcal_mol"] for f in frames])
    counts, _ = composition(frames)
    rng = np.random.default_rng(0)
    order = rng.permutation(n)
    pool, test = np.sort(order[:a.train]), np.sort(order[a.train:])
    sizes = [s for s in map(int, a.sizes.split(",")) if s <= a.train]

    def kernel(name):
        if name in ("average", "sum"):
            unnorm = np.load(paths["average"])
            if name == "sum":  # Σ_ij C_ij = N_A N_B × mean
                atoms = np.array([len(f) for f in frames], float)
                return unnorm * np.outer(atoms, atoms)
            d = np.sqrt(np.diag(unnorm))
            return unnorm / np.outer(d, d)
        return np.load(paths[name])

    results, curves = {}, {}
    for name in wanted:
        K = kernel(name)
        exps = (1,) if name == "sum" else DEFAULT_EXPONENTS
        for delta in (False, True):
            t = time.time()
            ref = dftb if delta else None
            res = learn(K, y, pool, test, counts, ref, exponents=exps, folds=a.folds)
            label = name + (" + Δ(DFTB)" if delta else "")
            results[label] = {k: res[k] for k in ("n_train", "n_test", "mae", "rmse", "sd_test", "exponent",
                                                  "regularisation", "coverage_1sigma", "shift")}
            print(f"{label}: MAE {res['mae']:.3f} RMSE {res['rmse']:.3f} kcal/mol ({time.time() - t:.0f} s)",
                  file=sys.stderr)
            if not delta:
                curves[name] = learning_curve(K, y, sizes, test, pool, counts, splits=a.splits, exponents=exps,
                                              folds=a.folds)
    out = {"n": n, "train": a.train, "descriptor": DESC, "zeta": 2, "results": results, "learning_curves": curves}
    tag = "_".join(wanted)
    with open(os.path.join(a.work, f"qm7_results_{tag}.json"), "w") as f:
        json.dump(out, f, indent=1)
    plot_learning_curves(curves, os.path.join(a.work, f"qm7_learning_curves_{tag}.png"), unit="(kcal/mol)")
    print("| kernel | MAE (kcal/mol) | RMSE (kcal/mol) | xi | lambda | 1σ coverage |")
    print("|---|---|---|---|---|---|")
    for label, r in results.items():
        coverage = f"{r['coverage_1sigma']:.2f}"
        print(f"| {label} | {r['mae']:.2f} | {r['rmse']:.2f} | {r['exponent']} | {r['regularisation']:.0e} | {coverage} |")
    print("\nlearning curves (MAE kcal/mol, mean ± spread over splits):")
    print("| n_train | " + " | ".join(curves) + " |")
    print("|---|" + "---|" * len(curves))
    for k, size in enumerate(sizes):
        print(f"| {size} | " + " | ".join(f"{curves[c][k]['mae']:.2f} ± {curves[c][k]['mae_spread']:.2f}"
                                          for c in curves) + " |")


if __name__ == "__main__":
    main()
