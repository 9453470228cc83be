"""Diamond: PBE (GPAW) against a GAP, the Brenner-type REBO and a Tersoff potential refitted to
the same DFT data — elastic constants, phonons and quasi-harmonic thermal expansion.

    python examples/diamond_dft/compare.py [--data tests/data/diamond_pbe.xyz] [--out diamond_compare]
           [--dft-phonons]

The GAP and the refitted Tersoff learn from the same frames (90 %; the other 10 % are held out
for the test errors), so the difference between them is the functional form. REBO keeps its
published parameters (Brenner et al. 2002, CH.rebo of Debian's lammps-data). The DFT elastic
constants are read from <data>_elastic.json (GPAW at the data set's cutoff, 600 eV, in the
primitive cell with 8×8×8 k-points; written by make_dft_data.py), so no DFT runs here unless
`--dft-phonons`: DFT phonons at the PBE a0 (64-atom supercell, 2×2×2 k-points: minutes of GPAW).
"""
import argparse
import json
import os
import time

import numpy as np

DFT_PHONONS = "gpaw:ecut=600,kpts=2x2x2"      # the 64-atom supercell (k spacing as 4x4x4 on 8 atoms)
REBO = "lammps:pair_style=rebo;pair_coeff=* * {d}/CH.rebo C;elements=C"
GAP = ("soap n_max=8 l_max=6 atom_sigma=0.5 cutoff=3.7 cutoff_transition_width=0.7 delta=1.0 zeta=4 "
       "n_sparse=800 sparse_method=cur_points : distance_2b cutoff=3.7 delta=1.0 theta_uniform=0.5 "
       "n_sparse=20 sparse_method=uniform covariance_type=ard_se")
SIGMA = (0.001, 0.05, 0.01)    # eV/atom, eV/Å, eV/atom: the GAP's and the Tersoff refit's weights
PUBLISHED = {"DFT (lecture, LDA)": (1118, 151, 610, 603), "GAP (lecture)": (1081, 157, 608, 601),
             "Brenner (lecture)": (1061, 133, 736, 717), "experiment": (1079, 124, None, 578)}


def rmse(a, b):
    return float(np.sqrt(np.mean((np.asarray(a) - np.asarray(b)) ** 2)))


def test_errors(calc, frames, e0=0.0):
    from soapgap.validation import _reference

    refs = [_reference(f) for f in frames]
    e_ref = [e / len(f) for (e, _), f in zip(refs, frames)]
    f_ref = np.concatenate([np.asarray(f).ravel() for _, f in refs])
    e, f = [], []
    for fr in frames:
        a = fr.copy()
        a.calc = calc
        e.append(a.get_potential_energy() / len(a) + e0)
        f.append(a.get_forces().ravel())
    return {"E meV/atom": 1e3 * rmse(e, e_ref), "F eV/Å": rmse(np.concatenate(f), f_ref)}


def bands(calc, a, supercell=2):
    from soapgap.validation import band_path, force_constants

    qpts, conn, labels = band_path("diamond", npoints=41)
    ph = force_constants(calc, "C", "diamond", a, supercell)
    ph.run_band_structure(qpts, path_connections=conn, labels=labels)
    bs = ph.band_structure
    return np.concatenate(bs.distances), np.vstack(bs.frequencies)


def main():
    import ase.io

    import soapgap
    from soapgap import tersoff_fit
    from soapgap.references import potentials_dir, reference_calculator
    from soapgap.thermal_expansion import at_temperature, thermal_expansion
    from soapgap.validation import elastic_constants

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", default="tests/data/diamond_pbe.xyz")
    ap.add_argument("--out", default="diamond_compare")
    ap.add_argument("--cache", default=os.path.expanduser("~/.cache/soapgap/references"))
    ap.add_argument("--dft-phonons", action="store_true")
    ap.add_argument("--overwrite", action="store_true", help="replace the results of an earlier run in --out")
    ap.add_argument("--resume", action="store_true", help="reuse the GAP and the Tersoff refit of an earlier run "
                    "in --out (e.g. to add --dft-phonons)")
    args = ap.parse_args()
    gap_path, tersoff_path = os.path.join(args.out, "diamond_gap.json"), os.path.join(args.out, "tersoff_refit.json")
    if os.path.exists(gap_path) and not (args.overwrite or args.resume):
        raise SystemExit(f"{args.out} holds an earlier run; give another --out, --resume or --overwrite")
    os.makedirs(args.out, exist_ok=True)
    frames = ase.io.read(args.data, ":")
    rng = np.random.default_rng(0)
    test_idx = set(rng.choice(len(frames), size=len(frames) // 10, replace=False).tolist())
    train = [f for i, f in enumerate(frames) if i not in test_idx]
    test = [f for i, f in enumerate(frames) if i in test_idx]
    print(f"{len(frames)} DFT frames: {len(train)} to fit, {len(test)} held out", flush=True)

    t0 = time.time()
    if args.resume and os.path.exists(gap_path):
        gap = soapgap.Potential.load(gap_path)
    else:
        gap = soapgap.Potential.fit(train, GAP, default_sigma=SIGMA, e0_method="average", sparse_jitter=1e-8)
        gap.save(gap_path, overwrite=args.overwrite)
    t_gap = time.time() - t0
    t0 = time.time()
    if args.resume and os.path.exists(tersoff_path):
        with open(tersoff_path) as fh:
            stored = json.load(fh)
        params, report = stored["parameters"], stored["report"]
    else:
        params, report = tersoff_fit.fit(train, sigma=SIGMA)
        with open(tersoff_path, "w") as fh:
            json.dump({"parameters": params, "report": report}, fh, indent=1)
    t_tersoff = time.time() - t0
    models = {"GAP": gap.calculator(), "REBO": reference_calculator(REBO.format(d=potentials_dir())),
              "Tersoff (refitted)": tersoff_fit.calculator(params), "Tersoff (1989)": tersoff_fit.calculator(
                  tersoff_fit.TERSOFF_C)}
    errors = {"GAP": test_errors(models["GAP"], test),
              "Tersoff (refitted)": test_errors(models["Tersoff (refitted)"], test, params["e0"])}
    print(f"fits: GAP {t_gap:.0f} s, Tersoff {t_tersoff:.0f} s; held-out errors {errors}", flush=True)

    with open(os.path.splitext(args.data)[0] + "_elastic.json") as fh:
        dft = json.load(fh)
    rows = {"DFT (PBE)": {"a0": dft["a0"], **dft["elastic"]}}
    for name, calc in models.items():
        el = elastic_constants(calc, None, "C", "diamond")
        rows[name] = {"a0": el["data"]["a0"]["model"],
                      **{k: el["values"][k]["model"] for k in ("C11", "C12", "C44_unrelaxed", "C44")}}
        print(name, rows[name], flush=True)

    thermal, dispersion = {}, {}
    for name, calc in models.items():
        if name == "Tersoff (1989)":
            continue
        # up to 1000 K: the MD data reach a0 + 1.5 %, and the GAP's free-energy minimum leaves
        # its data (and the sampled volumes) above that
        thermal[name] = thermal_expansion(calc, "C", "diamond", supercell=3, t_max=1000.0)
        dispersion[name] = bands(calc, rows[name]["a0"], supercell=3)
        rows[name]["alpha300"] = at_temperature(thermal[name], "alpha", 300) * 1e6
        rows[name]["alpha1000"] = at_temperature(thermal[name], "alpha", 1000) * 1e6
        rows[name]["nu_max"] = float(dispersion[name][1].max())
    if args.dft_phonons:
        dispersion["DFT (PBE)"] = bands(reference_calculator(DFT_PHONONS, cache=args.cache), rows["DFT (PBE)"]["a0"])
        rows["DFT (PBE)"]["nu_max"] = float(dispersion["DFT (PBE)"][1].max())
    if "DFT (PBE)" in dispersion:
        ref = dispersion["DFT (PBE)"][1]
        for name in ("GAP", "REBO", "Tersoff (refitted)"):
            rows[name]["phonon RMS vs DFT"] = rmse(bands(models[name], rows[name]["a0"], supercell=2)[1], ref)

    write(args.out, rows, errors, thermal, dispersion, report, len(train), len(test))


def write(out, rows, errors, thermal, dispersion, tersoff_report, n_train, n_test):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    def f(x, fmt):
        return "" if x is None else format(x, fmt)

    lines = ["| model | a0 Å | C11 GPa | C12 | C44⁰ | C44 | ν_max THz | phonon RMS vs DFT THz | α(300 K) 10⁻⁶/K | "
             "α(1000 K) |", "|---|---|---|---|---|---|---|---|---|---|"]
    for name, r in rows.items():
        lines.append(f"| {name} | {r['a0']:.4f} | {r['C11']:.0f} | {r['C12']:.0f} | {r['C44_unrelaxed']:.0f} | "
                     f"{r['C44']:.0f} | {f(r.get('nu_max'), '.1f')} | {f(r.get('phonon RMS vs DFT'), '.2f')} | "
                     f"{f(r.get('alpha300'), '.2f')} | {f(r.get('alpha1000'), '.2f')} |")
    for name, c in PUBLISHED.items():
        lines.append(f"| {name} | | {c[0]} | {c[1]} | {f(c[2], 'd')} | {c[3]} | | | | |")
    lines += ["", f"Held-out errors ({n_test} frames; fits on {n_train}):", ""]
    lines += [f"- {k}: {v['E meV/atom']:.2f} meV/atom, {v['F eV/Å']:.3f} eV/Å" for k, v in errors.items()]
    lines += [f"- Tersoff refit: {tersoff_report['evaluations']} evaluations, {tersoff_report['message']}"]
    text = "\n".join(lines) + "\n"
    with open(os.path.join(out, "compare.md"), "w") as fh:
        fh.write(text)
    with open(os.path.join(out, "compare.json"), "w") as fh:
        json.dump({"rows": rows, "errors": errors}, fh, indent=1)
    print(text)

    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4.2), gridspec_kw={"width_ratios": [1.4, 1]})
    styles = {"DFT (PBE)": ("k", "-"), "GAP": ("C0", "--"), "REBO": ("C3", ":"), "Tersoff (refitted)": ("C2", "-.")}
    for name, (d, freqs) in dispersion.items():
        c, ls = styles[name]
        x = d / d[-1]
        for j in range(freqs.shape[1]):
            ax1.plot(x, freqs[:, j], color=c, ls=ls, lw=1.2, label=name if j == 0 else None)
    ends = np.arange(0, len(x) + 1, len(x) // 4)       # 4 segments of equal point counts
    ax1.set_xticks([x[min(i, len(x) - 1)] for i in ends], ["Γ", "X", "K", "Γ", "L"])
    for t in ax1.get_xticks():
        ax1.axvline(t, color="0.8", lw=0.6)
    ax1.set_ylabel("frequency (THz)")
    ax1.legend(fontsize=8)
    ax1.set_title("diamond phonons")
    for name, t in thermal.items():
        c, ls = styles[name]
        ax2.plot(t["T"], t["alpha"] * 1e6, color=c, ls=ls, label=name)
    ax2.set_xlabel("T (K)")
    ax2.set_ylabel("α (10⁻⁶/K)")
    ax2.set_title("quasi-harmonic linear thermal expansion")
    ax2.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(os.path.join(out, "diamond_phonons_expansion.png"), dpi=120)


if __name__ == "__main__":
    main()
