"""End-to-end demo: database -> fit -> active learning -> validation report, all with EMT.

    python -m soapgap.demo [--element Cu] [--out demo_output] [--iterations 1]

1. builds a reference database with ASE's EMT calculator (strained primitive cells, rattled
   supercells, MD snapshots, vacancies, surfaces, gamma-surface cells, vacancy near a surface,
   dislocation quadrupoles, an isolated atom) and an independent held-out set;
2. fits a SOAP GAP with the C++ engine;
3. refines it by active learning: model MD at 600 K and 1500 K, EMT labels for the snapshots
   with the largest predicted error, refit;
4. validates the final model against EMT (lattice constant, bulk modulus, elastic constants,
   phonons, vacancy and surface energies, stacking-fault line, cost, quality of the predicted
   error) and shows that the predicted error is large where the model has not been trained
   (bcc, liquid);
5. writes demo_output/report/report.md (tables and PNG figures) and prints its path.
"""
import argparse
import json
import os
import time

import numpy as np

from ._atomic import atomic_path, write_extxyz, write_text

DEFAULT_GAP = ("soap n_max=8 l_max=6 atom_sigma=0.5 cutoff=5.0 cutoff_transition_width=1.0 "
               "delta=0.2 zeta=4 n_sparse=800 sparse_method=cur_points")
DEFAULT_SIGMA = (0.0005, 0.01, 0.005)  # eV/atom, eV/Å, eV/atom: EMT data are noise-free


def self_aware(pot, element, calc, a0, seed=0):
    """Predicted local-energy std (and actual error) on fcc like the training data versus bcc and
    liquid-like cells the model has never seen."""
    from ase.build import bulk

    rng = np.random.default_rng(seed)
    cells = []
    fcc = bulk(element, "fcc", a=a0, cubic=True).repeat((3, 3, 3))
    fcc.positions += rng.normal(scale=0.05, size=fcc.positions.shape)
    cells.append(("fcc, rattled 0.05 Å", fcc))
    bcc = bulk(element, "bcc", a=a0 * (0.5 ** (1 / 3)), cubic=True).repeat((4, 4, 4))  # same volume/atom
    bcc.positions += rng.normal(scale=0.05, size=bcc.positions.shape)
    cells.append(("bcc, rattled 0.05 Å", bcc))
    liq = bulk(element, "fcc", a=a0 * 1.03, cubic=True).repeat((3, 3, 3))
    liq.positions += rng.normal(scale=0.35, size=liq.positions.shape)
    cells.append(("liquid-like (0.35 Å)", liq))
    rows = []
    for name, a in cells:
        r = pot.predict(a, std=True)
        a.calc = calc
        err = abs(r["energy"] - a.get_potential_energy()) / len(a)
        rows.append({"structure": name, "sigma_meV_atom": 1e3 * float(r["energies_std"].mean()),
                     "abs_error_meV_atom": 1e3 * err})
    return rows


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--element", default="Cu")
    p.add_argument("--out", default="demo_output")
    p.add_argument("--iterations", type=int, default=2, help="active-learning iterations")
    p.add_argument("--size", choices=["small", "medium"], default="medium", help="training database size")
    p.add_argument("--gap", default=DEFAULT_GAP)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)

    from ase.calculators.emt import EMT

    from soapgap.active_learning import refine
    from soapgap.database import build_database, equilibrium_lattice_constant
    from soapgap.report import write_report
    from soapgap.validation import validate

    # the demo owns its output folder (marked): rerunning starts afresh, other folders are not touched
    marker = os.path.join(args.out, ".soapgap-demo")
    if os.path.isdir(args.out) and os.listdir(args.out):
        if not os.path.exists(marker):
            raise SystemExit(f"{args.out} exists and is not a soapgap demo folder; choose another --out")
        import shutil

        shutil.rmtree(args.out)
    os.makedirs(args.out)
    open(marker, "w").close()
    t0 = time.time()
    print(f"== 1/5 reference data: EMT {args.element}", flush=True)
    train = build_database(args.element, EMT(), seed=args.seed, size=args.size)
    test = build_database(args.element, EMT(), seed=args.seed + 1, size="small", extra=())
    write_extxyz(os.path.join(args.out, "train.xyz"), train)
    write_extxyz(os.path.join(args.out, "test.xyz"), test)
    counts = {}
    for f in train:
        counts[f.info["config_type"]] = counts.get(f.info["config_type"], 0) + 1
    print(f"   {len(train)} training frames ({sum(map(len, train))} atoms): "
          + ", ".join(f"{k} {v}" for k, v in counts.items()), flush=True)
    print(f"   {len(test)} held-out frames ({sum(map(len, test))} atoms), {time.time() - t0:.0f} s", flush=True)

    # δ and the noise scale by marginal likelihood, so the predicted errors in the report need no
    # fitted scale; "common" keeps the energy:force:virial weighting (EMT is noise-free, where one
    # noise per kind would give the energies up: docs/uncertainty.md)
    fit_kwargs = dict(gap=args.gap, default_sigma=DEFAULT_SIGMA, config_type_sigma={"isolated_atom": (1e-4, 0.01, 0.01)},
                      sparse_jitter=1e-8, seed=args.seed, optimise_hypers="common")
    print("== 2/5 + 3/5 fit and active learning (model MD, label the most uncertain snapshots, refit)", flush=True)
    workdir = os.path.join(args.out, "active_learning")
    pot, history = refine(EMT(), train, workdir, fit_kwargs, iterations=args.iterations,
                          temperatures=(600, 1500), md_steps=300, n_select=8, test_frames=test, seed=args.seed)
    model = os.path.join(workdir, "model.json")

    print("== 4/5 validation against EMT", flush=True)
    res = validate(pot.calculator(), EMT(), args.element, potential=pot, held_out=test)
    a0 = equilibrium_lattice_constant(args.element, EMT())
    res["self_aware"] = self_aware(pot, args.element, EMT(), a0, seed=args.seed)
    res["active_learning"] = history

    print("== 5/5 report", flush=True)
    path = write_report(res, os.path.join(args.out, "report"), title=f"soapgap demo: EMT {args.element}")
    with open(path, encoding="utf-8") as fh:
        report = fh.read()
    with atomic_path(path) as tmp, open(tmp, "w", encoding="utf-8") as fh:
        fh.write(report)
        fh.write("\n## Self-aware potential: trained on fcc only\n\n"
                 "| structure | mean predicted σ (meV/atom) | actual \\|error\\| (meV/atom) |\n|---|---|---|\n")
        for r in res["self_aware"]:
            fh.write(f"| {r['structure']} | {r['sigma_meV_atom']:.3f} | {r['abs_error_meV_atom']:.3f} |\n")
        fh.write("\n## Active learning log\n\n| iteration | frames | atoms | test E RMSE (meV/atom) | test F RMSE (eV/Å) "
                 "| max σ of MD candidates (meV) | selected | their true F RMSE (eV/Å) |\n|---|---|---|---|---|---|---|---|\n")
        for h in history:
            fmt = lambda x, s=1.0, p=3: "–" if x is None else f"{s * x:.{p}f}"  # noqa: E731
            fh.write(f"| {h.get('iteration')} | {h.get('n_frames')} | {h.get('n_atoms')} | {fmt(h.get('test_rmse_e'), 1e3)} "
                     f"| {fmt(h.get('test_rmse_f'), 1, 4)} | {fmt(h.get('cand_max_std'), 1e3)} | {h.get('n_selected', '–')} "
                     f"| {fmt(h.get('sel_rmse_f'), 1, 4)} |\n")
    write_text(os.path.join(args.out, "report", "results.json"), json.dumps(res, indent=1, default=float))
    print("\nSelf-aware check (mean predicted σ vs actual error, meV/atom):")
    for r in res["self_aware"]:
        print(f"   {r['structure']:24s} σ {r['sigma_meV_atom']:8.3f}   |error| {r['abs_error_meV_atom']:8.3f}")
    print(f"\nDone in {time.time() - t0:.0f} s. Model: {model}\nReport: {os.path.abspath(path)}")
    return path


if __name__ == "__main__":
    main()
