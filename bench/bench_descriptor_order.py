#!/usr/bin/env python
"""Stability of the fit with the order of the expansion ('Stability of fit: elastic constants of
Si' in ../shared/reference/seed-lecture-fitting-potentials-II.md): C11, C12, C44 (relaxed) and
C44⁰ (unrelaxed) of diamond Si from GAPs fitted on ../shared/data/mlearn_Si (DFT) with growing
descriptor order, everything else fixed.

    python bench/bench_descriptor_order.py [--families soap,bispectrum,behler] [--out bench/descriptor_order.json]

SOAP: n_max = 8, l_max = 2..12 (the mlearn recipe otherwise: cutoff 5.4 Å, atom_sigma 0.5,
ζ = 4, 1000 CUR sparse points, default_sigma 0.01 eV/atom, 0.05 eV/Å, e0 -0.79 eV).
Bispectrum: n_max = 2, l_max = 2..6, normalised, ζ = 4. Symmetry functions: behler with
4+2 .. 24+32 radial+angular functions, Gaussian kernel (theta_fac 2). Energies and forces only.
Writes the JSON and descriptor_order.png (elastic constants against descriptor length).
"""
import argparse
import json
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
SPARSE = "n_sparse=1000 sparse_method=cur_points delta=1.0"


def families(rc=5.4):
    from soapgap.reconstruct import behler_spec

    soap = [(l, f"soap n_max=8 l_max={l} atom_sigma=0.5 zeta=4 cutoff={rc} cutoff_transition_width=0.5 "
                f"covariance_type=dot_product {SPARSE}") for l in (2, 4, 6, 8, 10, 12)]
    bisp = [(l, f"bispectrum n_max=2 l_max={l} atom_sigma=0.5 zeta=4 cutoff={rc} cutoff_transition_width=0.5 "
                f"{SPARSE}") for l in (2, 3, 4, 5, 6)]
    behler = [(a + b, f"{behler_spec(a, b, rc)} theta_fac=2 {SPARSE}") for a, b in ((4, 2), (8, 8), (16, 16), (24, 32))]
    return {"soap": soap, "bispectrum": bisp, "behler": behler}


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--families", default="soap,bispectrum,behler")
    p.add_argument("--out", default=os.path.join(HERE, "descriptor_order.json"))
    a = p.parse_args()
    import ase.io

    import soapgap
    from soapgap.calculator import SoapGapCalculator
    from soapgap.validation import elastic_constants

    data = os.environ.get("SOAPGAP_SHARED_DATA") or os.path.join(HERE, "..", "..", "shared", "data")
    if not os.path.isdir(data):
        sys.exit("../shared/data not found (set SOAPGAP_SHARED_DATA)")
    train = ase.io.read(f"{data}/mlearn_Si/training.xyz", ":")
    run = a.families.split(",")
    rows = []
    if os.path.exists(a.out):  # keep the other families' rows: families can be run one at a time
        with open(a.out) as fh:
            rows = [r for r in json.load(fh) if r["family"] not in run]
    for fam in run:
        for order, gap in families()[fam]:
            t0 = time.perf_counter()
            pot = soapgap.Potential.fit(train, gap=gap, default_sigma=(0.01, 0.05, 0.01), e0=-0.79,
                                        virial_key="no_virial_key", sparse_jitter=1e-8)
            fit_s = time.perf_counter() - t0
            length = soapgap.Descriptor(pot.descriptors[0]).dimension
            try:
                C = {k: round(float(v["model"]), 1) for k, v in
                     elastic_constants(SoapGapCalculator(pot), None, "Si", "diamond", a0=5.46)["values"].items()}
            except RuntimeError as e:  # a model too poor for an equation of state: recorded, not fatal
                C = dict(C11=None, C12=None, C44=None, C44_unrelaxed=None, error=str(e))
            rows.append(dict(family=fam, order=order, length=length, fit_s=round(fit_s, 1), **C))
            print(rows[-1], flush=True)
            with open(a.out, "w") as fh:
                json.dump(rows, fh, indent=1)
    print("\n| descriptor | order | length | C11 | C12 | C44 | C44⁰ (GPa) | fit s |\n|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['family']} | {r['order']} | {r['length']} | {r['C11']} | {r['C12']} | {r['C44']} | "
              f"{r['C44_unrelaxed']} | {r['fit_s']:.0f} |")
    plot(rows, os.path.join(os.path.dirname(a.out), "descriptor_order.png"))


def plot(rows, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fams = list(dict.fromkeys(r["family"] for r in rows))
    fig, axes = plt.subplots(1, len(fams), figsize=(4.3 * len(fams), 3.6), squeeze=False, sharey=True)
    for ax, f in zip(axes[0], fams):
        sel = [r for r in rows if r["family"] == f]
        for key, mark in (("C11", "o-"), ("C12", "s-"), ("C44", "^-"), ("C44_unrelaxed", "v--")):
            ok = [r for r in sel if r[key] is not None]
            ax.plot([r["order"] for r in ok], [r[key] for r in ok], mark, label=key.replace("_unrelaxed", "⁰"))
        ax.set_title(f)
        ax.set_xlabel({"soap": "l_max (n_max = 8)", "bispectrum": "l_max (n_max = 2)",
                       "behler": "number of functions"}.get(f, "order"))
    axes[0][0].set_ylabel("elastic constant of Si (GPa)")
    axes[0][0].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    print(f"figure: {path}")


if __name__ == "__main__":
    main()
