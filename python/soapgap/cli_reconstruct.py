"""`soapgap reconstruct`: recover a neighbour environment from its descriptor (docs/descriptors.md)."""
import json
import os

import numpy as np

HOMOMETRIC_SPECS = {
    "2b+3b (GAP kernel)": "2b+3b",
    "symmetry functions (behler, default set)": "behler cutoff=4",
    "d_nl (n = l = 8)": "angular_dnl cutoff=4 cutoff_transition_width=0.5 n_max=8 l_max=8 atom_sigma=0.4",
    "power spectrum (SOAP n = l = 8)": "soap cutoff=4 cutoff_transition_width=0.5 n_max=8 l_max=8 atom_sigma=0.4",
    "bispectrum (n = 2, l = 4)": "bispectrum cutoff=4 cutoff_transition_width=0.5 n_max=2 l_max=4 atom_sigma=0.4",
}


def add_parser(sub):
    p = sub.add_parser("reconstruct", help="reconstruct a neighbour environment from its descriptor; "
                                           "the truncation sweep and the 3-body-degenerate pair")
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--input", help="structure file (any ASE format): the environment of --atom")
    src.add_argument("--neighbours", type=int, help="a random environment of this many neighbours (2-3.4 Å)")
    src.add_argument("--sweep", action="store_true", help="reconstruction error against descriptor length for "
                                                          "power spectrum, bispectrum, symmetry functions, d_nl, 2b+3b")
    src.add_argument("--homometric", action="store_true", help="only the pair of environments with identical "
                                                               "2- and 3-body correlations")
    p.add_argument("--atom", type=int, default=0, help="centre atom of --input (0-based)")
    p.add_argument("--frame", type=int, default=0, help="frame of --input")
    p.add_argument("--descriptor", default="soap cutoff=4 cutoff_transition_width=0.5 n_max=6 l_max=6 atom_sigma=0.4",
                   help="descriptor string without species (they are filled in), or 2b+3b")
    p.add_argument("--starts", type=int, default=6, help="random starting environments")
    p.add_argument("--hops", type=int, default=3, help="basin hops from the best minimum")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--sizes", default="4,8,12", help="neighbour counts of the sweep")
    p.add_argument("--targets", type=int, default=2, help="random target environments per size in the sweep")
    p.add_argument("--quick", action="store_true", help="a reduced sweep (tests)")
    p.add_argument("--output", default="reconstruction", help="output folder")
    p.add_argument("--overwrite", action="store_true", help="replace existing outputs in --output")
    p.set_defaults(fn=cmd_reconstruct)


def _environment(path, frame, atom, cutoff):
    import ase.io
    from ase.neighborlist import neighbor_list

    atoms = ase.io.read(path, index=frame)
    if not 0 <= atom < len(atoms):
        raise SystemExit(f"{path}: frame {frame} has {len(atoms)} atoms; --atom {atom} is not one of them")
    i, j, D = neighbor_list("ijD", atoms, cutoff)
    keep = i == atom
    if not keep.any():
        raise SystemExit(f"{path}: frame {frame}: atom {atom} has no neighbour within {cutoff} Å")
    return D[keep], atoms.numbers[j[keep]]


def _outputs(a, names):
    os.makedirs(a.output, exist_ok=True)
    paths = [os.path.join(a.output, n) for n in names]
    existing = [q for q in paths if os.path.exists(q)]
    if existing and not a.overwrite:
        raise SystemExit(f"{existing[0]}: file exists; refusing to overwrite (use --overwrite)")
    return paths


def _write_pair(path, first, second, numbers, comments):
    from ase import Atoms
    import ase.io

    frames = []
    for P, c in zip((first, second), comments):
        at = Atoms(numbers=[0, *numbers], positions=np.vstack([[0, 0, 0], P]))
        at.info["comment"] = c
        frames.append(at)
    ase.io.write(path, frames, format="extxyz")


def homometric_table():
    from .reconstruct import aligned_rmsd, descriptor_distance, homometric_pair

    A, B = homometric_pair()
    numbers = [14] * len(A)
    rows = [(name, descriptor_distance(spec, A, B, numbers)) for name, spec in HOMOMETRIC_SPECS.items()]
    return A, B, aligned_rmsd(A, B, numbers), rows


def cmd_reconstruct(a):
    from .reconstruct import random_environment, reconstruct

    if a.sweep or a.homometric:
        return _sweep(a)
    if a.input:
        from .descriptor import Descriptor
        from .reconstruct import TwoPlusThreeBody

        two_three = a.descriptor.split()[0] == "2b+3b"
        cutoff = TwoPlusThreeBody.CUTOFF if two_three else Descriptor(a.descriptor).cutoff
        target, numbers = _environment(a.input, a.frame, a.atom, cutoff)
    else:
        target, numbers = random_environment(a.neighbours, np.random.default_rng(a.seed)), [14] * a.neighbours
    (out,) = _outputs(a, ["reconstruction.xyz"])
    r = reconstruct(target, list(numbers), a.descriptor, starts=a.starts, hops=a.hops, seed=a.seed)
    print(f"{len(target)} neighbours, descriptor length {r['length']}: relative descriptor distance "
          f"{r['loss']:.2e}, position error after matching {r['rmsd']:.4f} Å (best minimum found {r['best_rmsd']:.4f} Å)")
    _write_pair(out, target, r["positions"], list(numbers), ["target", f"reconstruction, RMSD {r['rmsd']:.4f} A"])
    print(f"target and reconstruction: {out}")


def _sweep(a):
    from .reconstruct import sweep

    names = ["homometric.md", "homometric_pair.xyz"]
    if a.sweep:
        names += ["reconstruction.md", "reconstruction.json", "reconstruction.png"]
    paths = dict(zip(names, _outputs(a, names)))
    A, B, rmsd, rows = homometric_table()
    lines = ["# Two environments with identical 2- and 3-body correlations", "",
             "Four neighbours on a circle of radius 2.3 Å at 45° x {0, 1, 2, 5} and 45° x {0, 1, 3, 4}: the same",
             "neighbour distances and the same multiset of pairwise angles, but no rotation, reflection or",
             f"permutation maps one onto the other (best-matched RMSD {rmsd:.3f} Å).", "",
             "| representation | relative descriptor distance |", "|---|---|"]
    lines += [f"| {name} | {abs(d):.1e} |" for name, d in rows]  # a kernel distance may be -0 to round-off
    lines += ["", "The SOAP power spectrum is itself a 3-body correlation (centre and two neighbours), so it",
              "confuses the pair exactly as 2b+3b, symmetry functions and d_nl do; the bispectrum (4-body)",
              "separates them."]
    with open(paths["homometric.md"], "w") as fh:
        fh.write("\n".join(lines) + "\n")
    _write_pair(paths["homometric_pair.xyz"], A, B, [14] * len(A), ["45 deg x {0 1 2 5}", "45 deg x {0 1 3 4}"])
    print("\n".join(lines))
    if not a.sweep:
        return
    sizes = [int(s) for s in a.sizes.split(",")]
    rows = sweep(sizes, targets=a.targets, starts=a.starts, hops=a.hops, seed=a.seed, quick=a.quick)
    with open(paths["reconstruction.json"], "w") as fh:
        json.dump(rows, fh, indent=1)
    table = ["# Environment reconstruction against descriptor length", "",
             f"Random environments (neighbours at 2-3.4 Å, no two closer than 1.2 Å), {a.targets} per size; "
             f"L-BFGS from {a.starts} random starts and {a.hops} basin hops; RMSD of the lowest-loss minimum "
             "after the best rotation, reflection and permutation (median over targets); loss = relative "
             "squared descriptor distance (max over targets).", "",
             "| representation | length | " + " | ".join(f"N={n} RMSD Å | N={n} loss" for n in sizes) + " |",
             "|---|---|" + "---|---|" * len(sizes)]
    seen = []
    for r in rows:
        if (r["family"], r["spec"]) not in seen:
            seen.append((r["family"], r["spec"]))
    for family, spec in seen:
        cells = []
        length = None
        for n in sizes:
            sel = [r for r in rows if r["family"] == family and r["spec"] == spec and r["n"] == n]
            length = sel[0]["length"]
            cells.append(f"{np.median([r['rmsd'] for r in sel]):.3f} | {max(r['loss'] for r in sel):.1e}")
        table.append(f"| {family} | {length if length else 'kernel'} | " + " | ".join(cells) + " |")
    with open(paths["reconstruction.md"], "w") as fh:
        fh.write("\n".join(table) + "\n")
    print("\n".join(table))
    _plot(rows, sizes, paths["reconstruction.png"])
    print(f"written: {', '.join(paths.values())}")


def _plot(rows, sizes, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(sizes), figsize=(4.2 * len(sizes), 3.6), squeeze=False, sharey=True)
    families = list(dict.fromkeys(r["family"] for r in rows))
    for ax, n in zip(axes[0], sizes):
        for f in families:
            sel = [r for r in rows if r["family"] == f and r["n"] == n]
            specs = list(dict.fromkeys(r["spec"] for r in sel))
            med = [np.median([r["rmsd"] for r in sel if r["spec"] == s]) for s in specs]
            if sel[0]["length"] is None:
                ax.axhline(med[0], ls="--", color="k", label=f)
            else:
                ax.plot([next(r["length"] for r in sel if r["spec"] == s) for s in specs], med, "o-", label=f)
        ax.set_xscale("log")
        ax.set_xlabel("descriptor length")
        ax.set_title(f"{n} neighbours")
    axes[0][0].set_ylabel("position error after matching (Å)")
    axes[0][0].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
