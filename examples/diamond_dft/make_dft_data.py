"""The diamond PBE data set: ab initio MD (GPAW) of 8-atom cubic cells plus strained cells.

    SOAPGAP_GPAW_PROCS=2 python examples/diamond_dft/make_dft_data.py [--out tests/data/diamond_pbe.xyz]

What is computed (every structure with the same GPAW settings, `--reference`, so the data are
one consistent potential-energy surface):
  * MD: Langevin NVT (1.5 fs steps, friction 0.01/fs) of the 8-atom cubic cell at a0 and at
    a0 ± 1.5 %, each at 1000 and 2000 K: six runs of 10 steps to equilibrate from the perfect
    lattice, then a frame every 2 steps (3 fs); `--md-frames` in all (180: 30 per run, 70 steps
    = 105 fs per run; 420 GPAW calls of 7-9 s with two MPI processes);
  * strained: 8-atom cells under random symmetric strains |ε_ij| ≤ 2 % with 0.02 Å rattles, so
    that the fit sees the strain-internal-coordinate coupling behind C44 (`--strained`).
Every GPAW result is cached by content (references.py), so an interrupted run resumes where it
stopped. The output is extended XYZ with energy, forces and virial per frame and config_type
md/strained, each frame recording the reference string; beside it, <out>_elastic.json holds the
PBE a0, B, C11, C12, C44⁰ and C44 at the same cutoff (primitive cell, 8×8×8 k-points; cached by
convergence.py) and, if convergence.json is found next to this script or in --convergence, the
convergence table, so that compare.py and the tests need no DFT.
"""
import json
import argparse
import os
import time

import numpy as np
from ase.build import bulk
from ase.io import write

from soapgap.database import _keep, md_sample
from soapgap.references import reference_calculator

SPEC = "gpaw:ecut=600,kpts=4x4x4"
ELASTIC = "gpaw:ecut=600,kpts=8x8x8"   # the same cutoff in the 2-atom primitive cell
A0 = 3.573        # PBE a0 of diamond at SPEC's cutoff (convergence.json)


RUNS = [(scale, temp) for scale in (1.0, 0.985, 1.015) for temp in (1000, 2000)]


def md_frames(calc, a0, n, seed, runs=range(len(RUNS))):
    """n // 6 frames from each selected MD run; each run has its own random stream, so runs may be
    computed by separate processes (`--runs`) and assembled from the cache afterwards."""
    frames = []
    for i in runs:
        scale, temp = RUNS[i]
        cell = bulk("C", "diamond", a=a0 * scale, cubic=True)
        md_sample(cell, calc, (temp,), n // len(RUNS), np.random.default_rng([seed, i]), "md", interval=2,
                  n_equil=10, frames=frames, timestep=1.5)
        for f in frames:
            f.info.setdefault("lattice_scale", scale)
    return frames


def strained_frames(calc, a0, n, rng, max_strain=0.02, rattle=0.02):
    frames = []
    for _ in range(n):
        eps = rng.uniform(-max_strain, max_strain, (3, 3))
        cell = bulk("C", "diamond", a=a0, cubic=True)
        cell.set_cell(cell.cell[:] @ (np.eye(3) + 0.5 * (eps + eps.T)), scale_atoms=True)
        cell.positions += rng.normal(scale=rattle, size=cell.positions.shape)
        _keep(frames, cell, calc, "strained")
    return frames


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--reference", default=SPEC)
    ap.add_argument("--a0", type=float, default=A0)
    ap.add_argument("--md-frames", type=int, default=180)
    ap.add_argument("--strained", type=int, default=40)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--cache", default=os.path.expanduser("~/.cache/soapgap/references"))
    ap.add_argument("--out", default="tests/data/diamond_pbe.xyz")
    ap.add_argument("--convergence", default=os.path.dirname(os.path.abspath(__file__)),
                    help="folder of convergence.py's convergence.json")
    ap.add_argument("--runs", default=None, help="compute only these MD runs (0-5, comma-separated; "
                    "for parallel processes sharing the cache) and write nothing")
    args = ap.parse_args()
    if args.runs is not None:
        calc = reference_calculator(args.reference, cache=args.cache)
        md_frames(calc, args.a0, args.md_frames, args.seed, [int(i) for i in args.runs.split(",")])
        return
    if os.path.exists(args.out):
        raise SystemExit(f"{args.out} exists; remove it or give another --out")
    calc = reference_calculator(args.reference, cache=args.cache)
    rng = np.random.default_rng(args.seed)
    t0 = time.time()
    frames = strained_frames(calc, args.a0, args.strained, rng) + md_frames(calc, args.a0, args.md_frames, args.seed)
    for f in frames:
        f.info["reference"] = args.reference
    write(args.out, frames, format="extxyz")
    print(f"{len(frames)} frames -> {args.out} ({time.time() - t0:.0f} s, {calc.misses} GPAW runs, "
          f"{calc.hits} from the cache)")
    write_elastic(os.path.splitext(args.out)[0] + "_elastic.json", args)


def write_elastic(path, args):
    from soapgap.validation import elastic_constants, equation_of_state

    calc = reference_calculator(ELASTIC, cache=args.cache)
    eos = equation_of_state(calc, None, "C", "diamond")["values"]
    el = elastic_constants(calc, None, "C", "diamond")["values"]
    out = {"reference": ELASTIC, "data_reference": args.reference, "a0": eos["a0"]["model"], "B": eos["B"]["model"],
           "elastic": {k: el[k]["model"] for k in ("C11", "C12", "C44_unrelaxed", "C44")}}
    conv = os.path.join(args.convergence, "convergence.json")
    if os.path.exists(conv):
        with open(conv) as fh:
            out["convergence"] = json.load(fh)
    with open(path, "w") as fh:
        json.dump(out, fh, indent=1, default=float)
    print(f"PBE elastic constants -> {path}: {out['elastic']}")


if __name__ == "__main__":
    main()
