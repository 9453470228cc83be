"""Summaries and pictures of a GAP's predicted errors on a set of frames (the self-aware
potential: docs/uncertainty.md, docs/references.md)."""
import numpy as np

TABLE_HEADER = ["| model | test set | frames | E RMSE meV/at | F RMSE eV/Å | mean σ_E meV/at | mean σ_F eV/Å | "
                "ρ frame (E) | ρ atom (F) | F coverage 1σ / 2σ |", "|---|---|---|---|---|---|---|---|---|---|"]


def summary(pot, frames):
    """Errors, mean predicted σ, Spearman ρ of σ against the error (per frame for energies, per
    atom for forces) and force coverage of the predictive σ (validation.uncertainty_quality)."""
    from .validation import uncertainty_quality

    q = uncertainty_quality(pot, frames)
    s, d = q["stats"], q["data"]
    return dict(frames=len(frames), E=1e3 * np.sqrt(np.mean(d["abs_error"] ** 2)),
                F=q["values"]["held-out F RMSE"]["error"], sigma_E=1e3 * float(np.mean(d["sigma"])),
                sigma_F=float(np.mean(d["force_sigma"])), rho_frame=s["spearman_frame"],
                rho_atom=s["spearman_atom_force"], cover_F=s["force_coverage_predictive"]["1"],
                cover_F2=s["force_coverage_predictive"]["2"])


def table_row(model, test_set, r):
    return (f"| {model} | {test_set} | {r['frames']} | {r['E']:.2f} | {r['F']:.3f} | {r['sigma_E']:.2f} | "
            f"{r['sigma_F']:.3f} | {r['rho_frame']:.2f} | {r['rho_atom']:.2f} | {r['cover_F']:.2f} / {r['cover_F2']:.2f} |")


def sigma_picture(pot, atoms, path, title, mark=None):
    """The cell's atoms coloured by predicted per-atom |σ_F|; with reference forces in the frame
    (arrays or a SinglePointCalculator) also by the actual force error |ΔF|, and σ against the error
    atom by atom. ``mark``: indices ringed in red (the defect)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from .validation import _reference

    r = pot.predict(atoms, forces=True, force_std=True)
    sigma = np.linalg.norm(r["forces_std"], axis=1)
    panels = [(sigma, "predicted |σ_F| (eV/Å)")]
    ref = _reference(atoms)[1] if ("forces" in atoms.arrays or atoms.calc is not None) else None
    if ref is not None:
        error = np.linalg.norm(r["forces"] - np.asarray(ref), axis=1)
        panels.append((error, "actual |ΔF| (eV/Å)"))
    mark = list(mark or [])
    fig = plt.figure(figsize=(4.8 * (len(panels) + (ref is not None)), 4.2))
    for i, (values, label) in enumerate(panels):
        ax = fig.add_subplot(1, len(panels) + (ref is not None), i + 1, projection="3d")
        p = ax.scatter(*atoms.positions.T, c=values, cmap="viridis", s=50, depthshade=False)
        if mark:
            ax.scatter(*atoms.positions[mark].T, s=200, facecolors="none", edgecolors="r", linewidths=1.5)
        fig.colorbar(p, ax=ax, shrink=0.6, label=label)
        ax.set_axis_off()
    if ref is not None:
        ax = fig.add_subplot(1, len(panels) + 1, len(panels) + 1)
        rest = np.setdiff1d(np.arange(len(atoms)), mark)
        ax.scatter(sigma[rest], error[rest], s=14, color="C0", label="other atoms")
        if mark:
            ax.scatter(sigma[mark], error[mark], s=30, color="r", label="marked (defect)")
        ax.set_xlabel("predicted |σ_F| (eV/Å)")
        ax.set_ylabel("actual |ΔF| (eV/Å)")
        ax.legend(fontsize=8)
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
