"""Gaussian-process regression of scalar properties of whole structures with structure kernels.

The kernel is computed once (soapgap.similarity, or ``soapgap kernel`` to .npy) and sliced for
every split. Intensive properties use a normalised kernel (average, best-match, REMatch) raised
to an exponent xi; extensive ones the unnormalised sum of environment kernels. A composition
baseline (least-squares energy per species, the "dressed atom") and an optional reference
property (Delta-learning, e.g. PBE0 − DFTB) are subtracted first and added back.

Hyperparameters, the regularisation lambda (noise variance over signal variance, on a kernel
scaled to mean diagonal 1) and xi, are chosen by k-fold cross-validation on the training set
(mean absolute error). Best-match and REMatch kernels need not be positive semi-definite; where
K + λI is indefinite on the training set, a white-noise term c = 1.01 |λ_min(K)| is added
(a GP with kernel K + c δ, whose variance includes c). With the signal variance s² = yᵀ(K + λI)⁻¹y / n (its maximum-likelihood
value for fixed λ) the predicted standard deviation is
    σ*² = s² (k** − k*ᵀ (K + λI)⁻¹ k* + λ)
(Rasmussen & Williams, Gaussian Processes for Machine Learning, eqs. 2.25–2.26).
"""
import numpy as np
import scipy.linalg

DEFAULT_REGULARISATION = tuple(10.0 ** np.arange(-8, 0))
DEFAULT_EXPONENTS = (1, 2, 4)


def composition(frames, species=None):
    """(n_frames, n_species) atom counts, and the species (sorted atomic numbers)."""
    if species is None:
        species = sorted({int(z) for a in frames for z in a.numbers})
    index = {z: k for k, z in enumerate(species)}
    counts = np.zeros((len(frames), len(species)))
    for i, a in enumerate(frames):
        for z in a.numbers:
            if int(z) not in index:
                raise ValueError(f"frame {i}: species {z} not in the baseline's species {species}")
            counts[i, index[int(z)]] += 1
    return counts, species


class GPModel:
    """A fitted GP on a training subset of a precomputed kernel matrix."""

    def __init__(self, K_train, y, regularisation, exponent=1, counts=None, ridge=1e-8, lowest=None):
        self.exponent, self.regularisation = exponent, regularisation
        self.baseline = None
        y = np.asarray(y, float)
        if counts is not None:  # dressed-atom baseline: y ≈ counts @ mu
            A = counts.T @ counts + ridge * np.eye(counts.shape[1])
            self.baseline = np.linalg.solve(A, counts.T @ y)
            y = y - counts @ self.baseline
        self.offset = 0.0 if counts is not None else float(np.mean(y))
        y = y - self.offset
        Kx = np.asarray(K_train, float) ** exponent
        self.scale = float(np.mean(np.diag(Kx)))
        if not self.scale > 0:
            raise ValueError("the training kernel has a non-positive diagonal")
        Kx = Kx / self.scale
        A = Kx + regularisation * np.eye(len(y))
        self.shift, self.lowest = 0.0, lowest
        try:
            self.factor = scipy.linalg.cho_factor(A, lower=True)
        except np.linalg.LinAlgError:
            # Best-match (and REMatch at small gamma) kernels need not be positive semi-definite.
            # Adding a white-noise term just above the most negative eigenvalue makes K + λI a
            # covariance again (a GP with kernel K + c δ), so the fit and its variance stay valid.
            if lowest is None:  # reusable for other λ on the same matrix (cross-validation)
                lowest = scipy.linalg.eigh(Kx, eigvals_only=True, subset_by_index=[0, 0])[0]
            self.lowest = lowest
            self.shift = max(0.0, -lowest) * 1.01 + 1e-12
            self.factor = scipy.linalg.cho_factor(A + self.shift * np.eye(len(y)), lower=True)
        self.alpha = scipy.linalg.cho_solve(self.factor, y)
        self.signal_variance = float(y @ self.alpha) / len(y)

    def predict(self, K_test_train, counts=None, K_test_diag=None):
        """Means (and standard deviations if the test kernel diagonal is given)."""
        Ks = np.asarray(K_test_train, float) ** self.exponent / self.scale
        mean = Ks @ self.alpha + self.offset
        if self.baseline is not None:
            if counts is None:
                raise ValueError("this model has a composition baseline: give the test counts")
            mean = mean + counts @ self.baseline
        if K_test_diag is None:
            return mean, None
        v = scipy.linalg.solve_triangular(self.factor[0], Ks.T, lower=True)
        kss = np.asarray(K_test_diag, float) ** self.exponent / self.scale
        var = self.signal_variance * np.maximum(kss - np.sum(v * v, axis=0) + self.regularisation + self.shift, 0.0)
        return mean, np.sqrt(var)


def cross_validate(K, y, train, counts=None, regularisation=DEFAULT_REGULARISATION, exponents=DEFAULT_EXPONENTS,
                   folds=5, seed=0, log=None):
    """(exponent, regularisation, table) with the lowest k-fold MAE on the indices ``train``.
    ``log``: a callable taking a progress line (e.g. print to stderr), or None."""
    train = np.asarray(train)
    rng = np.random.default_rng(seed)
    parts = np.array_split(rng.permutation(train), min(folds, len(train)))
    errors = {(xi, lam): [] for xi in exponents for lam in regularisation}
    for xi in exponents:
        for k in range(len(parts)):
            val = parts[k]
            fit = np.concatenate([parts[j] for j in range(len(parts)) if j != k])
            K_fit, K_val = K[np.ix_(fit, fit)], K[np.ix_(val, fit)]
            lowest = None
            for lam in regularisation:
                try:
                    m = GPModel(K_fit, y[fit], lam, xi, None if counts is None else counts[fit], lowest=lowest)
                except np.linalg.LinAlgError:
                    errors[xi, lam].append(np.array([np.inf]))
                    continue
                lowest = m.lowest
                pred, _ = m.predict(K_val, None if counts is None else counts[val])
                errors[xi, lam].append(np.abs(pred - y[val]))
            if log:
                log(f"[cv] {len(train)} training structures: exponent {xi}, fold {k + 1}/{len(parts)} done")
    table = [(xi, lam, float(np.mean(np.concatenate(e)))) for (xi, lam), e in errors.items()]
    best = min(table, key=lambda row: row[2])
    if not np.isfinite(best[2]):
        raise ValueError("K^xi + lambda I is singular for every setting of the grid")
    return best[0], best[1], table


def learn(K, y, train, test, counts=None, reference=None, regularisation=DEFAULT_REGULARISATION,
          exponents=DEFAULT_EXPONENTS, folds=5, seed=0, log=None):
    """Fit on ``train`` with cross-validated hyperparameters, report on ``test``.

    ``K``: full (n, n) kernel; ``y``: (n,) property; ``counts``: composition for the dressed-atom
    baseline (None: subtract the mean only); ``reference``: (n,) baseline property for
    Delta-learning (the GP learns y − reference). Returns a dict of errors, hyperparameters,
    predictions and standard deviations on the test set.
    """
    K = np.asarray(K, float)
    y = np.asarray(y, float)
    n = len(y)
    if K.shape != (n, n):
        raise ValueError(f"kernel of shape {K.shape} for {n} property values")
    if not np.all(np.isfinite(y)):
        raise ValueError("the property has NaN or infinite values")
    target = y - reference if reference is not None else y
    train, test = np.asarray(train), np.asarray(test)
    xi, lam, table = cross_validate(K, target, train, counts, regularisation, exponents, folds, seed, log)
    for xi, lam, _ in sorted(table, key=lambda row: row[2]):  # the best that factorises on all of train
        try:
            model = GPModel(K[np.ix_(train, train)], target[train], lam, xi, None if counts is None else counts[train])
            break
        except np.linalg.LinAlgError:
            continue
    mean, std = model.predict(K[np.ix_(test, train)], None if counts is None else counts[test], np.diag(K)[test])
    if reference is not None:
        mean = mean + reference[test]
    err = mean - y[test]
    return {"n_train": len(train), "n_test": len(test), "exponent": xi, "regularisation": lam,
            "mae": float(np.mean(np.abs(err))), "rmse": float(np.sqrt(np.mean(err ** 2))),
            "sd_test": float(np.std(y[test])),
            "coverage_1sigma": float(np.mean(np.abs(err) <= std)), "shift": model.shift,
            "cv": table, "prediction": mean, "std": std}


def learning_curve(K, y, sizes, test, pool, counts=None, reference=None, splits=3, seed=0, **kw):
    """MAE and RMSE against training size: for each size, ``splits`` random training sets drawn
    from ``pool`` (the test set is fixed). Returns a list of dicts with means and spreads."""
    rng = np.random.default_rng(seed)
    pool = np.asarray(pool)
    rows = []
    for size in sizes:
        if size > len(pool):
            raise ValueError(f"training size {size} exceeds the {len(pool)} structures available for training")
        runs = [learn(K, y, rng.choice(pool, size, replace=False), test, counts, reference, seed=seed + s, **kw)
                for s in range(splits if size < len(pool) else 1)]
        mae = np.array([r["mae"] for r in runs])
        rmse = np.array([r["rmse"] for r in runs])
        rows.append({"n_train": int(size), "mae": float(mae.mean()), "mae_spread": float(mae.std()),
                     "rmse": float(rmse.mean()), "rmse_spread": float(rmse.std()), "splits": len(runs),
                     "exponent": [r["exponent"] for r in runs], "regularisation": [r["regularisation"] for r in runs]})
    return rows


def plot_learning_curves(curves, path, unit=""):
    """Log–log MAE against training size, one line per curve (dict label -> rows)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5.5, 4))
    for label, rows in curves.items():
        n = [r["n_train"] for r in rows]
        ax.errorbar(n, [r["mae"] for r in rows], yerr=[r["mae_spread"] for r in rows], marker="o", capsize=3, label=label)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("training structures")
    ax.set_ylabel(f"test MAE {unit}".strip())
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120, format="png")
    plt.close(fig)
