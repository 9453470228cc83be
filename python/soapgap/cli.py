"""Python-side subcommands of the `soapgap` program (the C++ program hands these over):

    soapgap build-database --element Cu --reference emt --output db.xyz
    soapgap refine --database db.xyz --reference emt --workdir al_run --iterations 2
    soapgap validate --model model.json --reference emt --element Cu --held-out test.xyz --out report/
    soapgap build-database --element W --reference snap:W --stages all --output w_stages.xyz
    soapgap study --element W --reference snap:W --workdir w_study
    soapgap map --input db.xyz --kind rematch --colour config_type --output map/
    soapgap learn --input qm7.xyz --property hof_pbe0_kcal_mol --kind average --learning-curve 100,1000 --output learn/
    soapgap demo

The reference is any ASE calculator by name (soapgap.references): `emt`, `tblite:GFN1-xTB`,
`gpaw:mode=pw,ecut=400,kpts=4x4x4`, `lammps:pair_style=sw;pair_coeff=* * Si.sw Si;elements=Si`, or
`package.module:factory` (a zero-argument callable returning a calculator, e.g. your DFT set-up).
Results are cached on disk by structure (--reference-cache), so an interrupted run resumes.
"""
import argparse
import importlib
import os
import sys

DEFAULT_GAP = ("soap n_max=8 l_max=6 atom_sigma=0.5 cutoff=5.0 cutoff_transition_width=1.0 "
               "delta=0.2 zeta=4 n_sparse=800 sparse_method=cur_points")


def reference_calculator(spec, cache=None):
    """A reference string (soapgap.references: emt, tblite:..., gpaw:..., lammps:...,
    module:factory) -> an ASE calculator, cached on disk under `cache` unless it is "none"."""
    from .references import reference_calculator as build

    try:
        return build(spec, None if not cache or cache == "none" else cache)
    except ValueError as e:
        raise SystemExit(str(e)) from None


REFERENCE_HELP = ("emt | tblite:GFN1-xTB[,accuracy=..] | gpaw:mode=pw,ecut=400,kpts=4x4x4[,xc=PBE] | "
                  "lammps:pair_style=..;pair_coeff=..;elements=.. | snap:W | snap:W-He | package.module:factory (default emt)")


def _default_cache():
    root = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(root, "soapgap", "references")


def _floats(text, n=None):
    v = [float(x) for x in text.replace(",", " ").split()]
    if n is not None and len(v) != n:
        raise SystemExit(f"expected {n} numbers, got {text!r}")
    return v


def cmd_build_database(a):
    from ._atomic import write_extxyz
    from .database import build_database

    if os.path.exists(a.output) and not a.overwrite:
        raise SystemExit(f"{a.output}: file exists; refusing to overwrite (use --overwrite)")
    ref = reference_calculator(a.reference, a.reference_cache)
    if a.stages:
        from .stages import STAGES, build_stages

        stages = tuple(STAGES) if a.stages == "all" else tuple(s.strip() for s in a.stages.split(","))
        try:
            frames = build_stages(a.element, ref, scale=a.scale, seed=a.seed, stages=stages)
        except ValueError as e:
            raise SystemExit(f"build-database: {e}") from None
    else:
        frames = build_database(a.element, ref, seed=a.seed, size=a.size, lattice=a.lattice)
    write_extxyz(a.output, frames)
    print(f"{len(frames)} frames ({sum(map(len, frames))} atoms) -> {a.output}")


def fit_kwargs(a):
    return dict(gap=a.gap, default_sigma=_floats(a.default_sigma, 3),
                config_type_sigma={"isolated_atom": (1e-4, 0.01, 0.01)}, sparse_jitter=a.sparse_jitter, seed=a.seed)


def cmd_refine(a):
    import ase.io

    from .active_learning import refine

    frames = ase.io.read(a.database, ":") if a.database else []
    test = ase.io.read(a.test, ":") if a.test else None
    pot, history = refine(reference_calculator(a.reference, a.reference_cache), frames, a.workdir, fit_kwargs(a),
                          iterations=a.iterations, temperatures=_floats(a.temperatures), md_steps=a.md_steps,
                          n_select=a.n_select, stop_sigma=a.stop_sigma, test_frames=test, seed=a.seed,
                          lattice=a.lattice, select_by=a.select_by)
    print(f"final model: {os.path.join(a.workdir, 'model.json')}")


def cmd_validate(a):
    import ase.io

    from .potential import Potential
    from .report import write_report
    from .validation import validate

    pot = Potential.load(a.model)
    held = ase.io.read(a.held_out, ":") if a.held_out else None
    ref = reference_calculator(a.reference, a.reference_cache)
    res = validate(pot.calculator(), ref, a.element, potential=pot, held_out=held, lattice=a.lattice, quick=a.quick)
    path = write_report(res, a.out, title=f"soapgap validation: {a.element} ({a.model})", overwrite=a.overwrite)
    print(f"report: {path}")


def cmd_study(a):
    from .study import run_study
    from .stages import STAGES

    stages = tuple(STAGES) if a.stages == "all" else tuple(s.strip() for s in a.stages.split(","))
    unknown = set(stages) - set(STAGES)
    if unknown:
        raise SystemExit(f"study: unknown stages {sorted(unknown)}; choose from {', '.join(STAGES)}")
    if a.scale <= 0:
        raise SystemExit(f"study: --scale must be > 0, got {a.scale}")
    ref = reference_calculator(a.reference, a.reference_cache)
    he = None if a.helium_reference == "none" else reference_calculator(a.helium_reference, a.reference_cache)
    try:
        run_study(ref, a.workdir, element=a.element, scale=a.scale, n_sparse=a.n_sparse, gap=a.gap,
                  sigma=_floats(a.default_sigma, 3), stages=stages, quick=a.quick, seed=a.seed, helium=he)
    except ValueError as e:
        raise SystemExit(f"study: {e}") from None
    print(f"table: {os.path.join(a.workdir, 'study.md')}")


def main(argv=None):
    p = argparse.ArgumentParser(prog="soapgap", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="command", required=True)

    b = sub.add_parser("build-database", help="reference database (strained, rattled, MD, vacancy, surface, "
                                              "gamma surface, dislocation, isolated atom)")
    b.add_argument("--element", required=True)
    b.add_argument("--lattice", choices=["fcc", "bcc", "diamond"], default=None)
    b.add_argument("--reference", default="emt", help=REFERENCE_HELP)
    b.add_argument("--reference-cache", default=_default_cache(),
                       help="directory of cached reference results (content-addressed; 'none' to disable)")
    b.add_argument("--size", choices=["small", "medium", "large"], default="small",
                   help="small, medium (about 4x), large (EMT Cu: ~157,000 environments)")
    b.add_argument("--stages", help="the staged databases of the tungsten study (bcc; docs/tungsten.md): "
                                    "'all' or a comma list of GAP1..GAP6; frames carry info['stage']")
    b.add_argument("--scale", type=float, default=1.0, help="with --stages: multiplies the study's frame counts")
    b.add_argument("--seed", type=int, default=0)
    b.add_argument("--output", required=True)
    b.add_argument("--overwrite", action="store_true")
    b.set_defaults(fn=cmd_build_database)

    r = sub.add_parser("refine", help="active learning: fit, model MD, label the most uncertain frames, refit")
    r.add_argument("--database", help="initial extxyz database (not needed to resume a workdir)")
    r.add_argument("--reference", default="emt", help=REFERENCE_HELP)
    r.add_argument("--reference-cache", default=_default_cache(),
                       help="directory of cached reference results (content-addressed; 'none' to disable)")
    r.add_argument("--workdir", required=True, help="holds database.xyz, model.json, refine_log.jsonl; resumable")
    r.add_argument("--iterations", type=int, default=2)
    r.add_argument("--temperatures", default="600,1500", help="K, comma separated")
    r.add_argument("--lattice", choices=["fcc", "bcc", "diamond"], default=None,
                   help="of the MD cells (default: the element's)")
    r.add_argument("--md-steps", type=int, default=300)
    r.add_argument("--n-select", type=int, default=8)
    r.add_argument("--stop-sigma", type=float, default=None,
                   help="stop when all candidates are below (eV; eV/Å with --select-by force_sigma)")
    r.add_argument("--select-by", choices=["energy_sigma", "force_sigma"], default="energy_sigma",
                   help="rank MD snapshots by their largest local-energy std or largest per-atom force std")
    r.add_argument("--test", help="held-out extxyz for the error log")
    r.add_argument("--gap", default=DEFAULT_GAP)
    r.add_argument("--default-sigma", default="0.0005 0.01 0.005")
    r.add_argument("--sparse-jitter", type=float, default=1e-8)
    r.add_argument("--seed", type=int, default=0)
    r.set_defaults(fn=cmd_refine)

    v = sub.add_parser("validate", help="validation report (markdown + PNG) against a reference calculator")
    v.add_argument("--model", required=True, help="soapgap .json or GAP .xml")
    v.add_argument("--reference", default="emt", help=REFERENCE_HELP)
    v.add_argument("--reference-cache", default=_default_cache(),
                       help="directory of cached reference results (content-addressed; 'none' to disable)")
    v.add_argument("--element", required=True)
    v.add_argument("--lattice", choices=["fcc", "bcc", "diamond"], default=None, help="default: the element's own lattice")
    v.add_argument("--overwrite", action="store_true", help="replace an existing report in --out")
    v.add_argument("--held-out", help="extxyz with reference energies/forces, for parity and uncertainty quality")
    v.add_argument("--out", default="validation_report")
    v.add_argument("--quick", action="store_true", help="smaller cells (tests)")
    v.set_defaults(fn=cmd_validate)

    st = sub.add_parser("study", help="the tungsten database-building study: six staged databases, a fit and a "
                                      "validation per stage, the table (docs/tungsten.md)")
    st.add_argument("--element", default="W")
    st.add_argument("--reference", default="snap:W", help=REFERENCE_HELP.replace("default emt", "default snap:W"))
    st.add_argument("--reference-cache", default=_default_cache(),
                    help="directory of cached reference results (content-addressed; 'none' to disable)")
    st.add_argument("--workdir", required=True, help="database, per-stage models and validations, study.md; resumable")
    st.add_argument("--scale", type=float, default=1.0, help="multiplies the study's frame counts (1: the study's sizes)")
    st.add_argument("--stages", default="all", help="'all' or a comma list of GAP1..GAP6 to fit and validate")
    st.add_argument("--n-sparse", type=int, default=2000, help="SOAP sparse points (CUR)")
    st.add_argument("--gap", default=None, help="replace the default GAP terms (docs/tungsten.md)")
    st.add_argument("--default-sigma", default="0.001 0.04 0.02")
    st.add_argument("--helium-reference", default="none",
                    help="W–He reference (e.g. snap:W-He): fit W–He terms on top of the last model, 2b and "
                         "2b+SOAP, and compare He sites, He–vacancy binding and path; 'none' skips")
    st.add_argument("--quick", action="store_true", help="small validation cells (tests)")
    st.add_argument("--seed", type=int, default=0)
    st.set_defaults(fn=cmd_study)

    from .cli_similarity import add_parsers as add_similarity_parsers

    add_similarity_parsers(sub)

    from .cli_reconstruct import add_parser as add_reconstruct_parser

    add_reconstruct_parser(sub)

    sub.add_parser("demo", help="the end-to-end EMT demo (python -m soapgap.demo; see its --help)")

    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["demo"]:         # the demo has its own options
        from .demo import main as demo_main

        demo_main(argv[1:])
        return 0
    a = p.parse_args(argv)
    a.fn(a)


if __name__ == "__main__":
    sys.exit(main())
