#!/usr/bin/env python
"""Benchmark SOAP descriptor cost per atom: soapgap vs quippy, dscribe, featomic.

All codes run in the same process, single-threaded by default, at matched
hyper-parameters (cutoff 5.0 A, 0.5 A cosine transition, Gaussian sigma 0.5 A).
Reported time = best-of-N wall time (N ≥ --repeat, more for calls shorter than 1/N s) / n_atoms, in microseconds, for
  * no-grad: descriptor values only
  * grad:    values + derivatives w.r.t. atomic positions
Ratios are other/soapgap (>1 means soapgap is faster).

What is NOT identical between codes (timings compare libraries, not bases):
  * quippy:   EQUISPACED_GAUSS radial basis (QUIP default), normalised output,
              dim = n(n+1)/2*(l+1)+1.  Same descriptor string as soapgap.
              (radial_basis=GTO|POLY also accepted by quippy 0.10.3.)
  * dscribe:  l-dependent orthonormalised GTO basis; no smooth cutoff function
              (hard r_cut, neighbours up to r_cut + 3.7*sigma contribute);
              not normalised; dim = n(n+1)/2*(l+1).  Analytical derivatives
              are NOT available for periodic=True (raises ValueError), and the
              numerical ones are ~10x slower, so gradients are computed
              analytically on a non-periodic padded copy of the cell with
              attach=True (checked equal to the periodic values, ~1e-11).
              Derivative output is dense (n_centers, n_atoms, 3, dim), so
              centres are processed in chunks (--dscribe-chunk) to bound memory.
  * featomic: Gto radial basis with splined radial integrals, ShiftedCosine
              cutoff; not normalised; keeps all (n1, n2) pairs, so
              dim = n^2*(l+1) (~1.8x more features than the others).
Calculator construction (basis set-up, splines) is excluded from timings;
ASE->native conversion and neighbour lists are included (done per call).
--threads sets OMP/BLAS/rayon pools; dscribe is serial for a single system.
"""
import argparse
import itertools
import json
import os
import platform
import sys
import time


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--repeat", type=int, default=3, help="best-of-N timing")
    p.add_argument("--threads", type=int, default=1, help="OMP/BLAS/rayon threads")
    p.add_argument("--model", help="soapgap potential file for the prediction timing "
                   "(default: fit one on EMT Cu data with the n8l6 SOAP and 500 sparse points)")
    p.add_argument("--quick", action="store_true",
                   help="smoke test: 108 atoms, first setting, repeat 1")
    p.add_argument("--json", help="write results to this JSON file")
    p.add_argument("--settings", default="8,6;6,4;12,12",
                   help="semicolon-separated n_max,l_max pairs (default: %(default)s)")
    p.add_argument("--codes", help="comma-separated subset of soapgap,quippy,dscribe,featomic")
    p.add_argument("--atoms", default="108,500", help="cell sizes: 108 and/or 500 atoms")
    p.add_argument("--no-predict", action="store_true", help="skip the fitted-model prediction timing")
    p.add_argument("--dscribe-chunk", type=int, default=16,
                   help="centres per dscribe derivatives() call")
    return p.parse_args()


# Threading must be fixed before numpy / the libraries are imported.
ARGS = parse_args()
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS",
             "RAYON_NUM_THREADS"):
    os.environ[_var] = str(ARGS.threads)

import numpy as np  # noqa: E402
from ase import Atoms  # noqa: E402
from ase.build import bulk  # noqa: E402

CUTOFF, WIDTH, SIGMA = 5.0, 0.5, 0.5
SETTINGS = [tuple(int(v) for v in pair.split(",")) for pair in ARGS.settings.split(";")]  # (n_max, l_max)


def versions():
    from importlib import metadata
    dists = metadata.packages_distributions()  # import name -> distributions
    names = ("soapgap", "quippy", "dscribe", "featomic", "ase", "numpy")
    return {m: metadata.version(dists[m][0]) if m in dists else None for m in names}


def soap_string(n_max, l_max):
    """QUIP-style descriptor string, shared by soapgap and quippy."""
    return (f"soap n_max={n_max} l_max={l_max} atom_sigma={SIGMA} "
            f"cutoff={CUTOFF} cutoff_transition_width={WIDTH}")


def make_structures(quick):
    out = {}
    reps = {"108": 3, "500": 5}
    for rep in (3,) if quick else [reps[n] for n in ARGS.atoms.split(",")]:
        atoms = bulk("Cu", "fcc", a=3.61, cubic=True).repeat(rep)
        atoms.rattle(stdev=0.05, seed=42)
        out[f"Cu-fcc-{len(atoms)}"] = atoms
    return out


def best_time(fn, atoms, repeat, min_seconds=1.0):
    """Best wall time of at least `repeat` calls, and of as many more as fit in `min_seconds`
    (fast calls are repeated more: single calls of a few ms vary by tens of percent on this
    machine), after one untimed warm-up; and the last output."""
    out, times = fn(atoms), []
    while len(times) < repeat or (sum(times) < min_seconds and len(times) < 50):
        t0 = time.perf_counter()
        out = fn(atoms)
        times.append(time.perf_counter() - t0)
    return min(times), out


# Backends: factory(n_max, l_max) -> (values_fn, grad_fn, dim_fn).
# Each import is guarded so a missing code only drops its rows.
BACKENDS = {}

try:
    import soapgap

    def make_soapgap(n_max, l_max):
        d = soapgap.Descriptor(soap_string(n_max, l_max))
        return (lambda a: d.compute(a, gradients=False),
                lambda a: d.compute(a, gradients=True),
                lambda out: out["values"].shape[1])
    BACKENDS["soapgap"] = make_soapgap
except Exception as exc:  # not built yet, ABI mismatch, ...
    soapgap = None
    print(f"soapgap not importable ({type(exc).__name__}: {exc})")

try:
    from quippy.descriptors import Descriptor as QuipDescriptor

    def make_quippy(n_max, l_max):
        # Public API incl. ASE->QUIP conversion and Python-side unpacking of
        # the result (~10-25% over the raw Fortran call).
        d = QuipDescriptor(soap_string(n_max, l_max))
        return (lambda a: d.calc(a, grad=False),
                lambda a: d.calc(a, grad=True),
                lambda out: out["data"].shape[1])
    BACKENDS["quippy"] = make_quippy
except Exception as exc:
    print(f"quippy not importable ({exc})")

try:
    from dscribe.descriptors import SOAP as DscribeSOAP

    def padded_cluster(atoms, pad):
        """Non-periodic copy of `atoms` plus all periodic images within `pad`
        of the cell (original atoms first, so centres = range(len(atoms)))."""
        fpad = pad * np.linalg.norm(atoms.cell.reciprocal(), axis=1)
        frac = atoms.get_scaled_positions(wrap=False)
        reps = [range(-int(np.ceil(x)), int(np.ceil(x)) + 1) for x in fpad]
        shifts = sorted(itertools.product(*reps), key=any)  # (0,0,0) first
        pos, num = [], []
        for s in shifts:
            f = frac + s
            keep = np.all((f > -fpad) & (f < 1 + fpad), axis=1) if any(s) \
                else np.ones(len(f), bool)
            pos.append(f[keep] @ atoms.cell.array)
            num.append(atoms.numbers[keep])
        return Atoms(numbers=np.concatenate(num), positions=np.concatenate(pos))

    def make_dscribe(n_max, l_max):
        kw = dict(species=["Cu"], r_cut=CUTOFF, n_max=n_max, l_max=l_max,
                  sigma=SIGMA, rbf="gto")
        periodic = DscribeSOAP(periodic=True, **kw)
        cluster = DscribeSOAP(periodic=False, **kw)
        pad = CUTOFF + cluster.get_cutoff_padding()
        chunk = ARGS.dscribe_chunk

        def grad(atoms):
            # attach=True: centres move with their atom (needed for forces).
            # Each chunk's dense output is dropped before the next one, as a
            # streaming force/kernel contraction would do.
            big, n = padded_cluster(atoms, pad), len(atoms)
            for i in range(0, n, chunk):
                out = None  # free the previous chunk first
                out = cluster.derivatives(big, centers=list(range(i, min(n, i + chunk))),
                                          method="analytical", attach=True,
                                          return_descriptor=True)
            return out  # (derivatives, values) of the last chunk
        return (lambda a: periodic.create(a), grad, lambda out: out[1].shape[1])
    BACKENDS["dscribe"] = make_dscribe
except Exception as exc:
    print(f"dscribe not importable ({exc})")

try:
    import featomic

    def make_featomic(n_max, l_max):
        calc = featomic.SoapPowerSpectrum(
            cutoff={"radius": CUTOFF,
                    "smoothing": {"type": "ShiftedCosine", "width": WIDTH}},
            density={"type": "Gaussian", "width": SIGMA},
            basis={"type": "TensorProduct", "max_angular": l_max,
                   "radial": {"type": "Gto", "max_radial": n_max - 1}})
        return (lambda a: calc.compute(a),
                lambda a: calc.compute(a, gradients=["positions"]),
                lambda out: out.block(0).values.shape[1])
    BACKENDS["featomic"] = make_featomic
except Exception as exc:
    print(f"featomic not importable ({exc})")


def default_model():
    """A SOAP GAP on EMT Cu (n_max=8, l_max=6, cutoff 5, 500 sparse points, zeta 4)."""
    from soapgap.database import build_database

    frames = build_database("Cu", seed=0, size="small")
    gap = soap_string(8, 6) + " delta=0.2 zeta=4 n_sparse=500 sparse_method=cur_points"
    return soapgap.Potential.fit(frames, gap=gap, default_sigma=(0.001, 0.03, 0.01),
                                 config_type_sigma={"isolated_atom": (1e-4, 0.01, 0.01)}, sparse_jitter=1e-8)


def run(structs, repeat):
    rows = []
    if ARGS.codes:
        for code in set(BACKENDS) - set(ARGS.codes.split(",")):
            del BACKENDS[code]
    for (n_max, l_max), (sname, atoms) in itertools.product(
            SETTINGS[:1] if ARGS.quick else SETTINGS, structs.items()):
        for code, factory in BACKENDS.items():
            try:
                values_fn, grad_fn, dim_fn = factory(n_max, l_max)
                t_val, _ = best_time(values_fn, atoms, repeat)
                t_grad, out = best_time(grad_fn, atoms, repeat)
                dim = dim_fn(out)
            except Exception as exc:  # keep going if one code fails
                print(f"{code} n={n_max} l={l_max} {sname}: FAILED {exc!r}")
                continue
            n = len(atoms)
            rows.append(dict(code=code, setting=f"n{n_max}l{l_max}", structure=sname,
                             n_atoms=n, dim=dim, us_nograd=1e6 * t_val / n,
                             us_grad=1e6 * t_grad / n))
            print(f"  {code:9s} n{n_max}l{l_max} {sname}: "
                  f"{rows[-1]['us_nograd']:.1f} / {rows[-1]['us_grad']:.1f} us/atom",
                  flush=True)
    if soapgap is not None and "soapgap" in BACKENDS and not ARGS.no_predict:  # energy + forces (+ virial) of a fitted soapgap model
        pot = soapgap.Potential.load(ARGS.model) if ARGS.model else default_model()
        for sname, atoms in structs.items():
            t, _ = best_time(pot.predict, atoms, repeat)
            rows.append(dict(code="soapgap-predict", setting="model",
                             structure=sname, n_atoms=len(atoms), dim=None,
                             us_nograd=None, us_grad=1e6 * t / len(atoms)))
    return rows


def add_ratios(rows):
    ref = {(r["setting"], r["structure"]): r for r in rows if r["code"] == "soapgap"}
    for r in rows:
        base = ref.get((r["setting"], r["structure"]))
        for k in ("nograd", "grad"):
            ok = base is not None and r[f"us_{k}"] is not None
            r[f"ratio_{k}"] = r[f"us_{k}"] / base[f"us_{k}"] if ok else None


def markdown(rows):
    fmt = lambda x, spec: "n/a" if x is None else format(x, spec)  # noqa: E731
    lines = ["| code | setting | structure | dim | us/atom no-grad | us/atom grad "
             "| ratio no-grad (other/soapgap) | ratio grad (other/soapgap) |",
             "|---|---|---|---|---|---|---|---|"]
    order = lambda r: (r["structure"], r["setting"], r["code"] != "soapgap", r["code"])  # noqa: E731
    for r in sorted(rows, key=order):
        lines.append(f"| {r['code']} | {r['setting']} | {r['structure']} | "
                     f"{fmt(r['dim'], 'd')} | {fmt(r['us_nograd'], '.1f')} | "
                     f"{fmt(r['us_grad'], '.1f')} | {fmt(r['ratio_nograd'], '.2f')} | "
                     f"{fmt(r['ratio_grad'], '.2f')} |")
    return "\n".join(lines)


def main():
    repeat = 1 if ARGS.quick else ARGS.repeat
    structs = make_structures(ARGS.quick)
    print(f"threads={ARGS.threads} repeat={repeat} codes={list(BACKENDS)}")
    rows = run(structs, repeat)
    add_ratios(rows)
    print()
    print(markdown(rows))
    if ARGS.json:
        meta = dict(threads=ARGS.threads, repeat=repeat, cutoff=CUTOFF,
                    transition_width=WIDTH, sigma=SIGMA, versions=versions(),
                    python=sys.version.split()[0], machine=platform.processor()
                    or platform.machine(), dscribe_chunk=ARGS.dscribe_chunk)
        with open(ARGS.json, "w") as fh:
            json.dump(dict(meta=meta, results=rows), fh, indent=2)
        print(f"\nwrote {ARGS.json}")


if __name__ == "__main__":
    main()
