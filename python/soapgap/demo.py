"""End-to-end demo: EMT reference data -> SOAP GAP fit -> held-out errors -> predicted errors.

    python -m soapgap.demo [--element Cu] [--out demo_output] [--size small|medium]

Generates its own reference data with ASE's EMT calculator (strained cells, rattled
supercells, MD snapshots, vacancies, surfaces, an isolated atom), fits a SOAP GAP with the
C++ engine, and prints energy/force/virial errors on the training set and on an independent
test set, plus the predicted standard deviation on fcc (like the training data) versus bcc
and liquid-like structures (unlike it).
"""
import argparse
import os
import time

import numpy as np

DEFAULT_GAP = ("soap n_max=8 l_max=6 atom_sigma=0.5 cutoff=5.0 cutoff_transition_width=1.0 "
               "delta=0.2 zeta=4 n_sparse=800 sparse_method=cur_points")
DEFAULT_SIGMA = (0.0005, 0.01, 0.005)  # eV/atom, eV/Å, eV/atom (EMT data are noise-free)


def errors(pot, frames):
    """RMSE of energy (meV/atom), forces (eV/Å) and virial (meV/atom) per config_type and overall."""
    rows = {}
    for a in frames:
        if len(a) == 1:
            continue
        r = pot.predict(a)
        for ct in (a.info.get("config_type", "default"), "ALL"):
            d = rows.setdefault(ct, {"E": [], "F": [], "V": []})
            d["E"].append((r["energy"] - a.info["energy"]) / len(a))
            d["F"].append((r["forces"] - a.arrays["forces"]).ravel())
            if "virial" in a.info:
                d["V"].append(((r["virial"] - np.reshape(a.info["virial"], (3, 3))) / len(a)).ravel())
    out = {}
    for ct, d in rows.items():
        rms = lambda x: float(np.sqrt(np.mean(np.square(np.concatenate(x) if np.ndim(x[0]) else x)))) if x else float("nan")
        out[ct] = (1000 * rms(d["E"]), rms(d["F"]), 1000 * rms(d["V"]))
    return out


def print_errors(title, table):
    print(f"\n{title}")
    print(f"  {'config_type':14s} {'E RMSE meV/atom':>16s} {'F RMSE eV/Å':>12s} {'V RMSE meV/atom':>16s}")
    for ct in sorted(table, key=lambda c: (c == "ALL", c)):
        e, f, v = table[ct]
        print(f"  {ct:14s} {e:16.3f} {f:12.4f} {v:16.3f}")


def unlike_structures(element, calc, a0, seed=0):
    """bcc and hot liquid-like cells: environments absent from the fcc training data."""
    from ase.build import bulk

    rng = np.random.default_rng(seed)
    out = []
    for k in range(3):
        b = bulk(element, "bcc", a=a0 * 0.7937 * (1 + 0.01 * k), cubic=True).repeat((3, 3, 3))
        b.positions += rng.normal(scale=0.05, size=b.positions.shape)
        out.append(("bcc", b))
    for k in range(3):
        l = bulk(element, "fcc", a=a0 * 1.03, cubic=True).repeat((2, 2, 2))
        l.positions += rng.normal(scale=0.35, size=l.positions.shape)
        out.append(("liquid-like", l))
    return out


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--element", default="Cu")
    p.add_argument("--out", default="demo_output")
    p.add_argument("--size", default="medium", choices=["small", "medium"])
    p.add_argument("--gap", default=DEFAULT_GAP)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)

    import ase.io
    from ase.calculators.emt import EMT

    import soapgap
    from soapgap.database import build_database, equilibrium_lattice_constant

    os.makedirs(args.out, exist_ok=True)
    t0 = time.time()
    print(f"[data] EMT {args.element}: building training ({args.size}) and test databases ...", flush=True)
    train = build_database(args.element, EMT(), seed=args.seed, size=args.size)
    test = build_database(args.element, EMT(), seed=args.seed + 1, size="small")
    ase.io.write(os.path.join(args.out, "train.xyz"), train)
    ase.io.write(os.path.join(args.out, "test.xyz"), test)
    print(f"[data] {len(train)} training frames ({sum(map(len, train))} atoms), {len(test)} test frames "
          f"({sum(map(len, test))} atoms) in {time.time() - t0:.1f} s -> {args.out}/train.xyz, test.xyz", flush=True)

    t1 = time.time()
    pot = soapgap.Potential.fit(train, gap=args.gap, default_sigma=DEFAULT_SIGMA,
                                config_type_sigma={"isolated_atom": (1e-4, 0.01, 0.01)},
                                sparse_jitter=1e-8, seed=args.seed, verbose=True)
    print(f"[fit] {pot.n_sparse} sparse points, {time.time() - t1:.1f} s", flush=True)
    model = os.path.join(args.out, "model.json")
    pot.save(model, overwrite=True)
    print(f"[fit] model -> {model}")

    print_errors("Training-set errors", errors(pot, train))
    test_err = errors(pot, test)
    print_errors("Held-out test-set errors", test_err)

    calc = EMT()
    a0 = equilibrium_lattice_constant(args.element, calc)
    like = [a for a in test if a.info["config_type"] in ("md", "rattled")]
    s_like = np.mean([pot.predict(a, std=True)["energies_std"].mean() for a in like])
    print("\nPredicted standard deviation of local energies (meV/atom), the 'self-aware' error:")
    print(f"  fcc test frames like the training data: {1000 * s_like:8.3f}")
    for name, a in unlike_structures(args.element, calc, a0):
        r = pot.predict(a, std=True)
        a.calc = calc
        true = abs(r["energy"] - a.get_potential_energy()) / len(a)
        print(f"  {name:12s} predicted {1000 * r['energies_std'].mean():8.3f}   actual |error| {1000 * true:8.3f}")
    e, f, v = test_err["ALL"]
    print(f"\nSUMMARY held-out: energy RMSE {e:.3f} meV/atom, force RMSE {f:.4f} eV/Å, virial RMSE {v:.3f} meV/atom;"
          f" total {time.time() - t0:.0f} s. Model: {model}")


if __name__ == "__main__":
    main()
