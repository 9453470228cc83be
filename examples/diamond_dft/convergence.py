"""Convergence of the PBE elastic constants of diamond with plane-wave cutoff and k-points (GPAW).

Each setting fits its own a0 and computes C11, C12, C44 (internal coordinates relaxed) and C44⁰
(unrelaxed) in the 2-atom primitive cell, by soapgap.validation.elastic_constants (central
stress differences at ±0.5 % strain). Results go to convergence.json and a markdown table.

    SOAPGAP_GPAW_PROCS=2 python examples/diamond_dft/convergence.py [--out DIR]

About 2 minutes per setting with two MPI processes; every GPAW result is cached on disk
(~/.cache/soapgap/references), so an interrupted run resumes.
"""
import argparse
import json
import os
import time

from soapgap.references import reference_calculator
from soapgap.validation import elastic_constants, equation_of_state

# (ecut eV, k-points of the primitive cell): cutoff at fixed k, then k at fixed cutoff
SETTINGS = [(400, 8), (500, 8), (600, 8), (800, 8), (600, 6), (600, 10)]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default=os.path.dirname(os.path.abspath(__file__)))
    ap.add_argument("--cache", default=os.path.expanduser("~/.cache/soapgap/references"))
    args = ap.parse_args()
    path = os.path.join(args.out, "convergence.json")
    rows = json.load(open(path)) if os.path.exists(path) else {}
    for ecut, k in SETTINGS:
        spec = f"gpaw:ecut={ecut},kpts={k}x{k}x{k}"
        if spec in rows:
            continue
        calc = reference_calculator(spec, cache=args.cache)
        t0 = time.time()
        eos = equation_of_state(calc, None, "C", "diamond")["values"]
        el = elastic_constants(calc, None, "C", "diamond")["values"]
        rows[spec] = {"ecut": ecut, "k": k, "a0": eos["a0"]["model"], "B": eos["B"]["model"],
                      **{c: el[c]["model"] for c in ("C11", "C12", "C44", "C44_unrelaxed")},
                      "seconds": time.time() - t0}
        print(spec, rows[spec], flush=True)
        with open(path + ".tmp", "w") as fh:
            json.dump(rows, fh, indent=1)
        os.replace(path + ".tmp", path)
    print("| ecut eV | k (primitive) | a0 Å | B GPa | C11 | C12 | C44⁰ | C44 |")
    print("|---|---|---|---|---|---|---|---|")
    for r in rows.values():
        print(f"| {r['ecut']} | {r['k']}³ | {r['a0']:.4f} | {r['B']:.0f} | {r['C11']:.0f} | {r['C12']:.0f} | "
              f"{r['C44_unrelaxed']:.0f} | {r['C44']:.0f} |")


if __name__ == "__main__":
    main()
