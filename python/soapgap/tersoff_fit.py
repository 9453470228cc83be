"""An analytic potential of the Tersoff form refitted by least squares to a data set.

The comparison this serves (docs/diamond.md): a GAP and an analytic potential fitted to the *same*
DFT frames, so that a difference between them is one of functional form, not of fitting data.
The functional form and its evaluation are matscipy's (Tersoff, PRB 39, 5566 (1989), through
`matscipy.calculators.manybody`); this module only chooses which parameters move and minimises

    Σ_frames [(E/N − E_ref/N)/σ_E]² + Σ_components [(F − F_ref)/σ_F]² + Σ [(W/N − W_ref/N)/σ_V]²

with scipy's trust-region least squares over log-parameters (all fitted ones are positive), the
same noise sigmas a GAP fit uses. The cutoff radii stay at the starting values: moving them makes
the objective non-smooth.
"""
import numpy as np

# Tersoff (1989) carbon, in matscipy's names: A exp(-lambda r) repulsion, B exp(-mu r) attraction,
# bond order (1 + (beta zeta)^n)^(-1/2n) with g = 1 + c²/d² - c²/(d² + (h - cos θ)²)
TERSOFF_C = {"A": 1393.6, "B": 346.74, "lambda": 3.4879, "mu": 2.2119, "beta": 1.5724e-7, "n": 0.72751,
             "c": 38049.0, "d": 4.3484, "h": -0.57058, "r1": 1.8, "r2": 2.1}
FITTED = ("A", "B", "lambda", "mu", "beta", "n", "c", "d")   # h may be negative: fitted as is


def calculator(params, element="C"):
    """matscipy's Tersoff–Brenner calculator for one element with these parameters."""
    from matscipy.calculators.manybody import Manybody
    from matscipy.calculators.manybody.explicit_forms import TersoffBrenner

    p = {"__ref__": "refitted Tersoff", "style": "Tersoff", "el": [element], "chi": [1.0], "lambda3": [0.0]}
    p.update({k: [float(params[k])] for k in ("A", "B", "lambda", "mu", "r1", "r2", "beta", "n", "c", "d", "h")})
    return Manybody(**TersoffBrenner(p))


def _observations(frames):
    """Reference targets as flat arrays, with the per-row weights' kinds."""
    from .validation import _reference

    e, f, v = [], [], []
    for i, a in enumerate(frames):
        try:
            energy, forces = _reference(a)
        except RuntimeError:          # no calculator with results: nothing to fit
            energy = forces = None
        if energy is None or forces is None:
            raise ValueError(f"frame {i}: a Tersoff refit needs the reference energy and forces "
                             "(info/arrays or an extxyz calculator)")
        e.append(energy / len(a))
        f.append(np.asarray(forces).ravel())
        if "virial" in a.info:
            v.append(np.asarray(a.info["virial"], float).reshape(3, 3).ravel() / len(a))
    return np.array(e), np.concatenate(f), (np.concatenate(v) if v else np.zeros(0))


def predict(params, frames, element="C"):
    """Per-atom energies, flat forces and per-atom virials (for frames that carry one)."""
    calc = calculator(params, element)
    e, f, v = [], [], []
    for a in frames:
        b = a.copy()
        b.calc = calc
        e.append(b.get_potential_energy() / len(b))
        f.append(b.get_forces().ravel())
        if "virial" in a.info:
            s = b.get_stress(voigt=False)
            v.append((-s * b.get_volume()).ravel() / len(b))
    return np.array(e), np.concatenate(f), (np.concatenate(v) if v else np.zeros(0))


def fit(frames, start=None, sigma=(0.001, 0.1, 0.01), element="C", max_evaluations=400, log=print):
    """Refit TERSOFF_C's FITTED parameters (and h) to the frames' energies, forces and virials.

    Returns (parameters, report) where report holds the RMS errors before and after and the
    number of objective evaluations. The energy zero is fitted too (an additive constant per
    atom, `e0`), since DFT total energies carry the isolated atoms' energies and Tersoff's do not."""
    from scipy.optimize import least_squares

    start = dict(start or TERSOFF_C)
    ref_e, ref_f, ref_v = _observations(frames)
    names = list(FITTED)
    x0 = np.array([np.log(start[k]) for k in names] + [start["h"], 0.0])
    e0_guess = np.mean(ref_e - predict(start, frames, element)[0])
    x0[-1] = e0_guess
    count = [0]

    def unpack(x):
        p = dict(start)
        p.update({k: float(np.exp(x[i])) for i, k in enumerate(names)})
        p["h"] = float(x[len(names)])
        return p, float(x[-1])

    def residuals(x):
        count[0] += 1
        p, e0 = unpack(x)
        with np.errstate(all="ignore"):
            e, f, v = predict(p, frames, element)
        r = np.concatenate([(e + e0 - ref_e) / sigma[0], (f - ref_f) / sigma[1], (v - ref_v) / sigma[2]])
        return np.where(np.isfinite(r), r, 1e6)

    def rms(x):
        p, e0 = unpack(x)
        e, f, v = predict(p, frames, element)
        out = {"energy eV/atom": float(np.sqrt(np.mean((e + e0 - ref_e) ** 2))),
               "forces eV/Å": float(np.sqrt(np.mean((f - ref_f) ** 2)))}
        if len(v):
            out["virial eV/atom"] = float(np.sqrt(np.mean((v - ref_v) ** 2)))
        return out

    before = rms(x0)
    log(f"Tersoff refit: {len(frames)} frames, start RMS {before}")
    res = least_squares(residuals, x0, x_scale="jac", max_nfev=max_evaluations)
    params, e0 = unpack(res.x)
    after = rms(res.x)
    log(f"Tersoff refit: {count[0]} evaluations, {res.message}; RMS {after}")
    params["e0"] = e0
    return params, {"before": before, "after": after, "evaluations": count[0], "status": int(res.status),
                    "message": str(res.message)}
