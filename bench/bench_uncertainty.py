#!/usr/bin/env python
"""Quality of the predicted errors, same data and same run: soapgap's GP σ with the given
hyperparameters, with marginal-likelihood hyperparameters (DTC; FITC at those and with FITC's own;
the subset-of-regressors σ; force noise by |F| bins), and a committee of 5 GAPs (the usual
alternative), on held-out frames in domain and out of domain.

    python bench/bench_uncertainty.py [--sets emt,mlearn_Si,mlearn_Mo] [--out results.json]

Sets: `emt` (EMT Cu, the demo's database: in domain = a second database with another seed; out of
domain = bcc, liquid-like and (111)-surface cells, labelled by EMT); `mlearn_Si`, `mlearn_Mo`
(../shared/data; published mlearn GAP recipe; trained without the Vacancy and Surface groups,
which are the out-of-domain test, in domain = the AIMD and Elastic test frames).
σ_pred = sqrt(σ² + σ_noise²) with the model's own noise (its config_type_sigma or default_sigma, by
the predicted |F| with force noise bins); committee σ = the
spread of the 5 predictions (sample std), plus the same noise. Coverage P(|err| ≤ kσ), Spearman
ρ(σ, |err|) per frame (energy per atom) and per atom (|σ_F,i| vs |ΔF_i|); out of domain, the
ratio of mean σ there to in domain, and Spearman over in- and out-of-domain frames together.
"""
import argparse
import json
import math
import os
import sys
import time

import numpy as np
from scipy.stats import spearmanr

import soapgap

HERE = os.path.dirname(os.path.abspath(__file__))
MLEARN = {"Si": (5.4, 1000, -0.79), "Mo": (5.2, 2000, -4.04)}  # cutoff, n_sparse, e0 (bench_fit_mlearn.py)
FORCE_BINS = 5  # force noise bins (equal counts of the training |F|) of the heteroscedastic models


def delta_of(hypers):
    """δ of the first gap term of a fit's hyperparameters."""
    return hypers["gap"][0].split("delta=")[1].split()[0]


def shared_data():
    for d in (os.environ.get("SOAPGAP_SHARED_DATA"), os.path.join(HERE, "..", "..", "shared", "data")):
        if d and os.path.isdir(d):
            return d
    sys.exit("../shared/data not found (set SOAPGAP_SHARED_DATA)")


def reference(frame):
    if "energy" in frame.info:
        return frame.info["energy"], frame.arrays["forces"]
    return frame.get_potential_energy(), frame.get_forces()


def emt_set():
    from ase.build import bulk, fcc111
    from ase.calculators.emt import EMT

    from soapgap.database import build_database, equilibrium_lattice_constant

    train = build_database("Cu", seed=0, size="small", extra=())
    test = [a for a in build_database("Cu", seed=1, size="small", extra=()) if len(a) > 1]
    a0 = equilibrium_lattice_constant("Cu", EMT())
    rng = np.random.default_rng(5)
    ood = []
    for k in range(6):
        bcc = bulk("Cu", "bcc", a=a0 * 0.5 ** (1 / 3), cubic=True).repeat(3)
        liq = bulk("Cu", "fcc", a=a0 * 1.03, cubic=True).repeat(2)
        surf = fcc111("Cu", (2, 2, 4), a=a0, vacuum=6.0)
        for a, r in ((bcc, 0.05 + 0.02 * k), (liq, 0.25 + 0.03 * k), (surf, 0.05 + 0.02 * k)):
            a.positions += rng.normal(scale=r, size=a.positions.shape)
            a.calc = EMT()
            e, f = a.get_potential_energy(), a.get_forces()
            a.calc = None
            a.info.update(energy=e, config_type=("bcc", "liquid", "surface111")[[bcc, liq, surf].index(a)])
            a.arrays["forces"] = f
            ood.append(a)
    gap = ("soap n_max=6 l_max=4 atom_sigma=0.5 cutoff=4.5 cutoff_transition_width=1.0 delta=0.2 zeta=4 "
           "n_sparse=300 sparse_method=cur_points")
    kw = dict(gap=gap, default_sigma=(0.0005, 0.01, 0.005), config_type_sigma={"isolated_atom": (1e-4, 0.01, 0.01)},
              sparse_jitter=1e-8)
    return train, test, ood, kw


def mlearn_set(element):
    import ase.io

    d = os.path.join(shared_data(), f"mlearn_{element}")
    out = ("Vacancy", "Surface")
    train = [a for a in ase.io.read(os.path.join(d, "training.xyz"), ":") if a.info["config_type"] not in out]
    test_all = ase.io.read(os.path.join(d, "test.xyz"), ":")
    test = [a for a in test_all if a.info["config_type"] not in out]
    ood = [a for a in test_all if a.info["config_type"] in out]
    rc, m, e0 = MLEARN[element]
    gap = (f"soap l_max=8 n_max=8 atom_sigma=0.5 zeta=4 cutoff={rc} cutoff_transition_width=0.5 delta=1 "
           f"n_sparse={m // 2} covariance_type=dot_product sparse_method=cur_points")
    kw = dict(gap=gap, default_sigma=(0.01, 0.05, 0.01), sparse_jitter=1e-8, e0={element: e0})
    return train, test, ood, kw


class Predictions:
    """Errors and σ of one predictor on a list of frames (energies per atom, force components),
    with the noise of the model `pot` (its config_type's sigmas; the force sigma of each atom's
    predicted |F| bin if it has force noise bins)."""

    def __init__(self, frames, predict, pot):
        from soapgap.validation import _noise
        noise, _ = _noise(pot)
        self.n, self.e_err, self.e_sd, self.f_err, self.f_sd, self.atom_err, self.atom_sd = ([] for _ in range(7))
        self.sig_e, self.sig_f = [], []
        for a in frames:
            e, f = reference(a)
            pe, psd, pf, pfsd = predict(a)
            n = len(a)
            self.n.append(n)
            self.e_err.append((pe - e) / n)
            self.e_sd.append(psd / n)
            self.f_err.append((pf - f).ravel())
            self.f_sd.append(pfsd.ravel())
            self.atom_err.append(np.linalg.norm(pf - f, axis=1))
            self.atom_sd.append(np.linalg.norm(pfsd, axis=1))
            sig_e, sig_f = noise(a.info.get("config_type", "default"), pf)
            self.sig_e.append(sig_e)
            self.sig_f.append(np.repeat(sig_f, 3))
        self.n, self.e_err, self.e_sd, self.sig_e = map(np.array, (self.n, self.e_err, self.e_sd, self.sig_e))
        for k in ("f_err", "f_sd", "atom_err", "atom_sd", "sig_f"):
            setattr(self, k, np.concatenate(getattr(self, k)))


def quality(p, per_atom=True):
    e_pred = np.sqrt(p.e_sd ** 2 + p.sig_e ** 2 / (p.n if per_atom else p.n ** 2))
    f_pred = np.sqrt(p.f_sd ** 2 + p.sig_f ** 2)
    cov = lambda z: [round(float(np.mean(np.abs(z) <= k)), 3) for k in (1, 2, 3)]
    return {"E_rmse_meV": 1e3 * float(np.sqrt(np.mean(p.e_err ** 2))), "F_rmse": float(np.sqrt(np.mean(p.f_err ** 2))),
            "E_cov": cov(p.e_err / e_pred), "F_cov": cov(p.f_err / f_pred),
            "spearman_frame_E": float(spearmanr(p.e_sd, np.abs(p.e_err)).statistic),
            "spearman_atom_F": float(spearmanr(p.atom_sd, p.atom_err).statistic),
            "mean_E_sd_meV": 1e3 * float(np.mean(p.e_sd)), "mean_F_sd": float(np.mean(p.f_sd))}


def out_of_domain(p_in, p_out):
    both_sd = np.concatenate([p_in.e_sd, p_out.e_sd])
    both_err = np.abs(np.concatenate([p_in.e_err, p_out.e_err]))
    atoms_sd = np.concatenate([p_in.atom_sd, p_out.atom_sd])
    atoms_err = np.concatenate([p_in.atom_err, p_out.atom_err])
    return {"sd_ratio_E": float(np.mean(p_out.e_sd) / np.mean(p_in.e_sd)),
            "sd_ratio_F": float(np.mean(p_out.f_sd) / np.mean(p_in.f_sd)),
            "err_ratio_E": float(np.sqrt(np.mean(p_out.e_err ** 2)) / np.sqrt(np.mean(p_in.e_err ** 2))),
            "spearman_frame_E_in+out": float(spearmanr(both_sd, both_err).statistic),
            "spearman_atom_F_in+out": float(spearmanr(atoms_sd, atoms_err).statistic)}


def gp_predictor(pot, variance="dtc"):
    def predict(a):
        r = pot.predict(a, total_std=True, force_std=True, variance=variance)
        return r["energy"], r["energy_std"], r["forces"], r["forces_std"]
    return predict


def committee_predictor(models):
    def predict(a):
        rs = [m.predict(a) for m in models]
        e = np.array([r["energy"] for r in rs])
        f = np.array([r["forces"] for r in rs])
        return e.mean(), e.std(ddof=1), f.mean(axis=0), f.std(axis=0, ddof=1)
    return predict


def cost(pot, frames, repeat=3):
    def best(**kw):
        t = math.inf
        for _ in range(repeat):
            t0 = time.perf_counter()
            for a in frames:
                pot.predict(a, **kw)
            t = min(t, time.perf_counter() - t0)
        return t
    forces = best()
    return {"forces_s": forces, "energy_std_x": best(std=True) / forces, "force_std_x": best(force_std=True) / forces,
            "force_std_sor_x": best(force_std=True, variance="sor") / forces}


def cross_validation(train, kw, deltas, noise_scales, folds=5, seed=0):
    """5-fold cross-validation over a grid of δ and one common noise scale: mean negative log
    predictive density (NLPD, per force component, σ_pred with the noise) and force RMSE on the
    left-out frames. The marginal likelihood's choice is compared with the grid's best."""
    rng = np.random.default_rng(seed)
    fold = rng.permutation(len(train)) % folds
    e0 = dict(soapgap.Potential.fit(train, **kw).e0)  # folds may lack the isolated atom
    delta0 = float(kw["gap"].split("delta=")[1].split()[0])
    out = []
    for d in deltas:
        for s in noise_scales:
            sig = tuple(s * x for x in kw["default_sigma"])
            cts = {k: tuple(s * x for x in v) for k, v in (kw.get("config_type_sigma") or {}).items()}
            gap = kw["gap"].replace(f"delta={kw['gap'].split('delta=')[1].split()[0]}", f"delta={d * delta0}")
            nlpd, sq, count = 0.0, 0.0, 0
            for k in range(folds):
                pot = soapgap.Potential.fit([a for a, f in zip(train, fold) if f != k],
                                            **dict(kw, gap=gap, default_sigma=sig, config_type_sigma=cts, e0=e0))
                for a, f in zip(train, fold):
                    if f != k or len(a) < 2:
                        continue
                    r = pot.predict(a, force_std=True)
                    err = (r["forces"] - reference(a)[1]).ravel()
                    var = r["forces_std"].ravel() ** 2 + sig[1] ** 2
                    nlpd += float(np.sum(0.5 * err ** 2 / var + 0.5 * np.log(2 * np.pi * var)))
                    sq += float(np.sum(err ** 2))
                    count += err.size
            out.append({"delta": d * delta0, "noise_scale": s, "nlpd": nlpd / count, "F_rmse": math.sqrt(sq / count)})
    return out


def run_set(name, log):
    train, test, ood, kw = emt_set() if name == "emt" else mlearn_set(name.split("_")[1])
    log(f"== {name}: {len(train)} training frames, {len(test)} in-domain and {len(ood)} out-of-domain test frames")
    rows, res = [], {"n_train": len(train), "n_test": len(test), "n_ood": len(ood)}
    t0 = time.perf_counter()
    given = soapgap.Potential.fit(train, **kw)
    t_fit = time.perf_counter() - t0
    ml_models, t_ml = {}, {}
    for mode in ("common", "per_kind", "per_config_type"):
        t0 = time.perf_counter()
        ml_models[mode] = soapgap.Potential.fit(train, optimise_hypers=mode, **kw)
        t_ml[mode] = time.perf_counter() - t0
    # FITC and the committee at the hyperparameters of the recommended noise groups: common for the
    # noise-free EMT reference, per kind (the default) for DFT data
    base = "common" if name == "emt" else "per_kind"
    ml = ml_models[base]
    t0 = time.perf_counter()
    binned = soapgap.Potential.fit(train, optimise_hypers=base, force_noise_bins=FORCE_BINS, **kw)
    t_ml["binned"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    fitc_ml = soapgap.Potential.fit(train, optimise_hypers=base, fitc=True, **kw)  # FITC's own likelihood
    t_ml["fitc"] = time.perf_counter() - t0
    h = ml.hyperparameters
    res["hypers"] = {mode: {"delta": delta_of(m.hyperparameters),
                            "default_sigma": m.hyperparameters["default_sigma"],
                            "config_type_sigma": m.hyperparameters["config_type_sigma"],
                            "log_likelihood": [m.hyperparameters["initial_log_likelihood"], m.hyperparameters["log_likelihood"]],
                            "iterations": m.hyperparameters["iterations"]} for mode, m in ml_models.items()}
    res["hypers"][f"{base} + {FORCE_BINS} |F| bins"] = {
        "delta": delta_of(binned.hyperparameters),
        "default_sigma": binned.hyperparameters["default_sigma"], "force_noise": binned.hyperparameters["force_noise"],
        "force_sigma_per_bin": [binned.hyperparameters["default_sigma"][1] * f for f in binned.hyperparameters["force_noise"][1]]}
    res["hypers"][f"FITC {base}"] = {"delta": delta_of(fitc_ml.hyperparameters),
                                     "default_sigma": fitc_ml.hyperparameters["default_sigma"],
                                     "log_likelihood": [fitc_ml.hyperparameters["initial_log_likelihood"],
                                                        fitc_ml.hyperparameters["log_likelihood"]]}
    res["hypers"]["given"] = {"delta": kw["gap"].split("delta=")[1].split()[0], "default_sigma": list(kw["default_sigma"])}
    ml_kw = dict(kw, gap=h["gap"], default_sigma=h["default_sigma"], e0=dict(ml.e0),  # subsets may lack the isolated atom
                 config_type_sigma=h["config_type_sigma"] or kw.get("config_type_sigma"))
    fitc = soapgap.Potential.fit(train, fitc=True, **ml_kw)
    t0 = time.perf_counter()
    members, rng = [], np.random.default_rng(0)
    for k in range(5):  # different data subsets (80 %) and so different sparse points
        idx = np.sort(rng.choice(len(train), int(0.8 * len(train)), replace=False))
        members.append(soapgap.Potential.fit([train[i] for i in idx], **dict(ml_kw, seed=k)))
    t_comm = time.perf_counter() - t0
    res["fit_s"] = {"given": t_fit, **{f"ml_{m}": t for m, t in t_ml.items()}, "committee_5": t_comm}
    for label, pred, pot in (("GP σ, given hypers", gp_predictor(given), given),
                             *((f"GP σ, ML {m}", gp_predictor(p), p) for m, p in ml_models.items()),
                             (f"GP σ, FITC at ML {base}", gp_predictor(fitc), fitc),
                             (f"GP σ, FITC, FITC ML {base}", gp_predictor(fitc_ml), fitc_ml),
                             (f"SoR σ, ML {base}", gp_predictor(ml, "sor"), ml),
                             (f"GP σ, ML {base} + |F| bins", gp_predictor(binned), binned),
                             (f"SoR σ, ML {base} + |F| bins", gp_predictor(binned, "sor"), binned),
                             (f"committee of 5 (ML {base})", committee_predictor(members), ml)):
        p_in, p_out = Predictions(test, pred, pot), Predictions(ood, pred, pot)
        q = quality(p_in)
        q.update(out_of_domain(p_in, p_out))
        res[label] = q
        log(f"   {label:30s} E {q['E_rmse_meV']:.2f} meV/at cov {q['E_cov']}  F {q['F_rmse']:.4f} eV/Å cov {q['F_cov']}"
            f"  ρ frame {q['spearman_frame_E']:.2f} atom {q['spearman_atom_F']:.2f}; OOD σ×{q['sd_ratio_E']:.1f}/"
            f"{q['sd_ratio_F']:.1f} (err×{q['err_ratio_E']:.1f}) ρ {q['spearman_frame_E_in+out']:.2f}/"
            f"{q['spearman_atom_F_in+out']:.2f}")
    res["cost"] = cost(ml, test[:5])
    comm_t = math.inf
    for _ in range(3):
        t0 = time.perf_counter()
        for a in test[:5]:
            committee_predictor(members)(a)
        comm_t = min(comm_t, time.perf_counter() - t0)
    res["cost"]["committee_x"] = comm_t / res["cost"]["forces_s"]
    log(f"   cost per prediction, relative to forces alone: energy σ ×{res['cost']['energy_std_x']:.2f}, "
        f"force σ ×{res['cost']['force_std_x']:.2f} (SoR ×{res['cost']['force_std_sor_x']:.2f}), committee of 5 ×{res['cost']['committee_x']:.2f}; "
        f"fits: given {t_fit:.1f} s, with the hyperparameter search {t_ml[base]:.1f} s, committee {t_comm:.1f} s")
    return res


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--sets", default="emt,mlearn_Si,mlearn_Mo")
    p.add_argument("--out", default=None, help="write the results as JSON")
    p.add_argument("--cv", action="store_true", help="also 5-fold cross-validation of δ and the noise scale (EMT set)")
    args = p.parse_args()
    results = {s: run_set(s, lambda m: print(m, flush=True)) for s in args.sets.split(",")}
    if args.cv:
        train, _, _, kw = emt_set()
        ml = soapgap.Potential.fit(train, optimise_hypers="common", **kw).hyperparameters
        grid = cross_validation(train, kw, deltas=(1, 10, 30, 100, 300), noise_scales=(0.5, 1, 2, 4))
        best = min(grid, key=lambda g: g["nlpd"])
        print(f"== 5-fold CV (EMT): best NLPD at delta {best['delta']:.3g}, noise x{best['noise_scale']} "
              f"(F RMSE {best['F_rmse']:.4f}); marginal likelihood: delta {ml['gap'][0].split('delta=')[1].split()[0][:6]}, "
              f"noise x{ml['default_sigma'][1] / kw['default_sigma'][1]:.2f}")
        for g in grid:
            print(f"   delta {g['delta']:8.3g} noise x{g['noise_scale']:<4} NLPD {g['nlpd']:8.3f} F RMSE {g['F_rmse']:.4f}")
        results["cv_emt"] = {"grid": grid, "best": best}
    if args.out:
        with open(args.out, "w") as fh:
            json.dump(results, fh, indent=1)


if __name__ == "__main__":
    main()
