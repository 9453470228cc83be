#!/usr/bin/env python
"""A self-aware silicon potential with a quantum reference: a GAP trained on diamond-structure
cells only predicts its own error on β-tin and on defects, and a second GAP trained on diamond +
β-tin brings the β-tin σ down to the in-domain level.

    python examples/self_aware_si/self_aware_si.py [--workdir si_self_aware]         # GFN1-xTB
    SOAPGAP_GPAW_PROCS=2 python examples/self_aware_si/self_aware_si.py --dft --workdir si_dft_gpaw

Tight binding (default; tblite is Γ-point only, docs/references.md): every cell has about 64
atoms, diamond at GFN1-xTB's own lattice constant (5.60 Å). DFT (`--dft`: GPAW, PBE, 250 eV,
Γ-centred k-points at density 2 per Å⁻¹ (3×3×3 on the 8-atom cells, 2×2×2 on the 64-atom ones),
0.1 eV Fermi smearing since β-tin is a metal): the
diamond and β-tin cells have 8 atoms, the defect cells 63-65 atoms, diamond at the PBE a0
(5.468 Å). β-tin (I4₁/amd, 4-atom cell) at a = 4.686, c = 2.585 Å scaled by a0/5.43.
Training (diamond): 16 rattled (0.05-0.2 Å) and 4 strained cells;
hyperparameters by marginal likelihood (one noise scale). Test sets: rattled diamond (in
domain); rattled β-tin; a vacancy (63 atoms), a tetrahedral interstitial (65 atoms) and a (100)
slab (64 atoms, 10 Å vacuum), 2 rattled snapshots each (DFT: 1). Per set: errors, mean predicted
σ, Spearman of σ against the error per frame and per atom, coverage; a picture of the interstitial
cell coloured by each atom's force σ and actual error. Reference results are cached in
<workdir>/cache; a structure whose SCF does not converge is reported and left out. About 6
minutes on 2 cores with tight binding, about 15 with DFT.
"""
import argparse
import os

import numpy as np

# reference, diamond a0 (Å), repeats of the 8-atom cubic cell and of the 4-atom β-tin cell for
# the bulk sets, training frames (rattled, strained), defect snapshots
SETTINGS = {"tb": ("tblite:GFN1-xTB", 5.60, 2, (2, 2, 4), (16, 4), 2),
            "dft": ("gpaw:ecut=250,kpts=density=2,smearing=0.1", 5.468, 1, (1, 1, 2), (16, 4), 1)}
BETA_TIN = (4.686, 2.585)            # a, c (Å), experiment, with diamond at 5.43 Å


def diamond(rattle, rng, a0, repeat, strain=0.0):
    from ase.build import bulk

    a = bulk("Si", "diamond", a=a0, cubic=True).repeat(repeat)
    if strain:
        eps = rng.uniform(-strain, strain, (3, 3))
        a.set_cell(a.cell[:] @ (np.eye(3) + 0.5 * (eps + eps.T)), scale_atoms=True)
    a.positions += rng.normal(scale=rattle, size=a.positions.shape)
    return a


def beta_tin(rattle, rng, a0, repeat):
    from ase.spacegroup import crystal

    a, c = (x * a0 / 5.43 for x in BETA_TIN)
    cell = crystal("Si", [(0, 0, 0)], spacegroup=141, cellpar=[a, a, c, 90, 90, 90]).repeat(repeat)
    cell.positions += rng.normal(scale=rattle, size=cell.positions.shape)
    return cell


def defects(rng, a0, snapshots):
    from ase import Atoms
    from ase.build import diamond100

    out = []
    for _ in range(snapshots):
        vac = diamond(0.03, rng, a0, 2)
        del vac[0]
        vac.info["config_type"] = "vacancy"
        inter = diamond(0.03, rng, a0, 2)
        inter += Atoms("Si", positions=[[a0 / 2, a0 / 2, a0 / 2]])  # tetrahedral site
        inter.info["config_type"] = "interstitial"
        slab = diamond100("Si", size=(2, 2, 16), a=a0, vacuum=5.0, periodic=True)
        slab.positions += rng.normal(scale=0.03, size=slab.positions.shape)
        slab.info["config_type"] = "surface"
        out += [vac, inter, slab]
    return out


def label(frames, ref, config_type=None):
    """Reference labels; a structure whose SCF does not converge is reported and left out."""
    from soapgap.database import _keep

    out = []
    for f in frames:
        _keep(out, f, ref, config_type or f.info["config_type"])
    return out


def main():
    import soapgap
    from soapgap.references import reference_calculator
    from soapgap.self_aware import TABLE_HEADER, sigma_picture, summary, table_row

    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--workdir", default="si_self_aware")
    p.add_argument("--dft", action="store_true", help="GPAW (PBE) instead of GFN1-xTB")
    a = p.parse_args()
    os.makedirs(a.workdir, exist_ok=True)
    spec, a0, rep, tin_rep, (n_rattled, n_strained), snapshots = SETTINGS["dft" if a.dft else "tb"]
    ref = reference_calculator(spec, cache=os.path.join(a.workdir, "cache"))
    ref.expect(n_rattled + n_strained + 18 + 3 * snapshots)
    rng = np.random.default_rng(0)
    train = (label([diamond(rng.uniform(0.05, 0.2), rng, a0, rep) for _ in range(n_rattled)], ref, "diamond")
             + label([diamond(0.02, rng, a0, rep, strain=0.02) for _ in range(n_strained)], ref, "diamond"))
    sets = {"diamond (in domain)": label([diamond(rng.uniform(0.05, 0.2), rng, a0, rep) for _ in range(6)], ref,
                                         "diamond"),
            "β-tin": label([beta_tin(rng.uniform(0.05, 0.15), rng, a0, tin_rep) for _ in range(6)], ref, "beta_tin"),
            "defects": label(defects(rng, a0, snapshots), ref)}
    extra_tin = label([beta_tin(rng.uniform(0.05, 0.15), rng, a0, tin_rep) for _ in range(6)], ref, "beta_tin")
    fit = dict(gap="soap n_max=8 l_max=6 atom_sigma=0.5 cutoff=5.0 cutoff_transition_width=1.0 delta=0.5 zeta=4 "
                   "n_sparse=500 sparse_method=cur_points",
               default_sigma=(0.002, 0.05, 0.01), e0_method="average", sparse_jitter=1e-8, optimise_hypers="common")
    lines = list(TABLE_HEADER)
    for name, data in (("diamond only", train), ("diamond + β-tin", train + extra_tin)):
        pot = soapgap.Potential.fit(data, **fit)
        for set_name, frames in sets.items():
            lines.append(table_row(name, set_name, summary(pot, frames)))
            print(lines[-1], flush=True)
        if name == "diamond only":
            inter = sets["defects"][1]
            sigma_picture(pot, inter, os.path.join(a.workdir, "interstitial_sigma.png"),
                          "diamond-trained GAP: interstitial (red ring)", mark=[len(inter) - 1])
    out = os.path.join(a.workdir, "self_aware.md")
    with open(out, "w") as fh:
        fh.write("\n".join(lines) + "\n")
    print("\n".join(lines))
    print(f"table: {out}; picture: {os.path.join(a.workdir, 'interstitial_sigma.png')}")
    print(f"reference calls ({spec}): {ref.misses} computed, {ref.hits} from the cache")


if __name__ == "__main__":
    main()
