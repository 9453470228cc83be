#!/usr/bin/env python
"""The representation family on one data set: held-out accuracy and cost per atom of GAPs built
on each descriptor (alone and summed with distance_2b), same data, same run.

    python bench/bench_descriptors.py [--set Si] [--out bench/descriptor_results.json] [--only behler,...]

Data: ../shared/data/mlearn_<set> (DFT, training.xyz / test.xyz), energies and forces, the mlearn
GAP recipe's noise (default_sigma 0.01 eV/atom, 0.05 eV/Å) and e0. Every model uses a Gaussian
kernel on the raw descriptor (theta_fac) except the normalised SOAP (the recipe) and bispectrum
(dot product, ζ = 4). Cost: the descriptor
of the test frames without and with gradients, and a full prediction (energy and forces), in
µs/atom on the threads given (OMP_NUM_THREADS, default 2), best of 3.
"""
import argparse
import json
import os
import sys
import time

import numpy as np

import soapgap

HERE = os.path.dirname(os.path.abspath(__file__))
E0 = {"Si": -0.79, "Mo": -4.04}  # mlearn recipe (bench_fit_mlearn.py)
SPARSE = "n_sparse=1000 sparse_method=cur_points"
TWO_B = "distance_2b cutoff=5.4 cutoff_transition_width=1.0 delta=1.0 theta_uniform=1.0 n_sparse=30"


def models(rc):
    soap = (f"soap l_max=8 n_max=8 atom_sigma=0.5 zeta=4 cutoff={rc} cutoff_transition_width=0.5 delta=1.0 "
            f"covariance_type=dot_product {SPARSE}")
    behler = f"behler cutoff={rc} delta=1.0 theta_fac=2 {SPARSE}"
    stein = f"steinhardt cutoff=3.0 cutoff_transition_width=0.5 l_max=12 delta=1.0 theta_fac=2 {SPARSE}"
    dnl = f"angular_dnl cutoff={rc} cutoff_transition_width=1.0 n_max=6 l_max=6 delta=1.0 theta_fac=4 {SPARSE}"
    bisp = (f"bispectrum cutoff={rc} cutoff_transition_width=0.5 n_max=4 l_max=4 atom_sigma=0.5 zeta=4 delta=1.0 "
            f"{SPARSE}")
    return {
        "soap": soap,
        "distance_2b": TWO_B,
        "behler": behler,
        "behler + 2b": f"{behler} : {TWO_B}",
        "steinhardt": stein,
        "steinhardt + 2b": f"{stein} : {TWO_B}",
        "angular_dnl": dnl,
        "angular_dnl + 2b": f"{dnl} : {TWO_B}",
        "bispectrum": bisp,
        "bispectrum + 2b": f"{bisp} : {TWO_B}",
    }


def shared_data():
    for d in (os.environ.get("SOAPGAP_SHARED_DATA"), os.path.join(HERE, "..", "..", "shared", "data")):
        if d and os.path.isdir(d):
            return d
    sys.exit("../shared/data not found (set SOAPGAP_SHARED_DATA)")


def best_of(f, n=3):
    t = []
    for _ in range(n):
        t0 = time.perf_counter()
        f()
        t.append(time.perf_counter() - t0)
    return min(t)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--set", default="Si")
    p.add_argument("--only", default="", help="comma-separated model names (default: all); the other rows "
                                              "of --out are kept")
    p.add_argument("--out", default=os.path.join(HERE, "descriptor_results.json"))
    a = p.parse_args()
    import ase.io

    data = shared_data()
    train = ase.io.read(f"{data}/mlearn_{a.set}/training.xyz", ":")
    test = ase.io.read(f"{data}/mlearn_{a.set}/test.xyz", ":")
    n_test_atoms = sum(len(f) for f in test)
    rc = 5.4 if a.set == "Si" else 5.2
    wanted = [m for m in a.only.split(",") if m]
    rows = []
    if wanted and os.path.exists(a.out):  # --only reruns some models and keeps the others' rows
        with open(a.out) as fh:
            rows = [r for r in json.load(fh)["rows"] if r["model"] not in wanted]
    for name, gap in models(rc).items():
        if wanted and name not in wanted:
            continue
        t0 = time.perf_counter()
        pot = soapgap.Potential.fit(train, gap=gap, default_sigma=(0.01, 0.05, 0.01), e0=E0[a.set],
                                    virial_key="no_virial_key", sparse_jitter=1e-8)
        fit_s = time.perf_counter() - t0
        de, df = [], []
        for f in test:
            r = pot.predict(f)
            de.append((r["energy"] - f.get_potential_energy()) / len(f))  # extxyz labels read as a calculator
            df.append((r["forces"] - f.get_forces()).ravel())
        e_rmse = 1000 * float(np.sqrt(np.mean(np.square(de))))
        f_rmse = float(np.sqrt(np.mean(np.square(np.concatenate(df)))))
        # cost per atom of each term's descriptor (values; values and gradients) and of predict()
        terms = [soapgap.Descriptor(t) for t in pot.descriptors]
        dims = [d.dimension for d in terms]
        us = lambda s: 1e6 * s / n_test_atoms  # noqa: E731
        desc = us(best_of(lambda: [d.compute(f) for d in terms for f in test]))
        desc_grad = us(best_of(lambda: [d.compute(f, gradients=True) for d in terms for f in test]))
        pred = us(best_of(lambda: [pot.predict(f) for f in test]))
        rows.append(dict(model=name, gap=gap, dimension=dims, fit_s=round(fit_s, 1), e_rmse_mev=round(e_rmse, 2),
                         f_rmse=round(f_rmse, 4), descriptor_us=round(desc, 1), descriptor_grad_us=round(desc_grad, 1),
                         predict_us=round(pred, 1)))
        print(rows[-1], flush=True)
    order = list(models(rc))
    rows.sort(key=lambda r: order.index(r["model"]))
    threads = os.environ.get("OMP_NUM_THREADS", "all")
    print(f"\nmlearn {a.set}: {len(train)} training / {len(test)} test frames, OMP_NUM_THREADS={threads}\n")
    print("| model | dimension | test E RMSE meV/atom | test F RMSE eV/Å | descriptor µs/atom | with gradients µs/atom "
          "| predict µs/atom | fit s |")
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['model']} | {'+'.join(map(str, r['dimension']))} | {r['e_rmse_mev']:.1f} | {r['f_rmse']:.3f} | "
              f"{r['descriptor_us']:.1f} | {r['descriptor_grad_us']:.1f} | {r['predict_us']:.1f} | {r['fit_s']:.0f} |")
    with open(a.out, "w") as fh:
        json.dump(dict(set=a.set, threads=threads, rows=rows), fh, indent=1)


if __name__ == "__main__":
    main()
