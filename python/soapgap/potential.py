"""Fit, save, load and evaluate SOAP-GAP potentials."""
import os

import numpy as np

from . import _soapgap
from ._convert import to_structure


def _frames(data, keys):
    """Accept a path (extxyz), an ase.Atoms, or a list of ase.Atoms."""
    if isinstance(data, (str, os.PathLike)):
        return _soapgap.read_extxyz(str(data))
    if hasattr(data, "positions"):
        data = [data]
    return [to_structure(a, frame=i, **keys) for i, a in enumerate(data)]


def _add_noise(out, noise, n_atoms, sig_f):
    """Stds of a new reference observation: sqrt(σ² + σ_noise²) with the fit's noise (sig_f: the
    force noise of each atom)."""
    if noise is None:
        raise ValueError("noise=True: this model carries no noise model (a GAP XML file); use the stds as they are")
    sig_e, _, sig_v, per_atom = noise
    scale = np.sqrt(n_atoms) if per_atom else 1.0
    if "energies_std" in out:
        out["energies_std"] = np.sqrt(out["energies_std"] ** 2 + (sig_e * scale) ** 2 / max(n_atoms, 1))
    if "energy_std" in out:
        out["energy_std"] = float(np.hypot(out["energy_std"], sig_e * scale))
    if "forces_std" in out:
        out["forces_std"] = np.hypot(out["forces_std"], np.asarray(sig_f)[:, None])
    if "virial_std" in out:
        out["virial_std"] = np.hypot(out["virial_std"], sig_v * scale)


def _baseline_list(baseline):
    if baseline is None:
        return []
    if isinstance(baseline, (str, os.PathLike)) or hasattr(baseline, "_p"):
        return [baseline]
    return list(baseline)


class Potential:
    """A GAP potential (sum of descriptor terms + per-species e0) with predicted errors."""

    def __init__(self, engine):
        self._p = engine
        self.hyperparameters = None  # set by fit(optimise_hypers=...): the values found, the likelihoods

    @classmethod
    def fit(cls, data, gap, default_sigma=(0.002, 0.1, 0.05), config_type_sigma=None, e0=None,
            e0_method="isolated", sparse_jitter=1e-10, energy_key="energy", force_key="forces",
            virial_key="virial", stress_key="stress", config_type_key="config_type", seed=0,
            sigma_per_atom=True, sparse_from=None, baseline=None, verbose=False, optimise_hypers=False,
            fitc=False, force_noise=None, force_noise_bins=1):
        """Fit from an extxyz path or a list of ase.Atoms.

        gap: one string, gap_fit style (terms separated by ':'), or a list of term strings.
        default_sigma: (energy per atom, force, virial per atom) noise, as gap_fit's default_sigma.
        config_type_sigma: {config_type: (E, F, V)}.
        e0: {symbol or Z: energy} or a number for every species; else e0_method (isolated|average).
        sparse_from: a Potential (or a path to a .json/.xml model, e.g. from gap_fit) whose sparse
        points are used instead of selecting new ones; its descriptors must match the gap terms.
        baseline: a baseline or a list of them, each an option string ("zbl r_inner=1 r_outer=2",
        "coulomb species={Na Cl} charges={1 -1}", "dispersion ...", "table ..."; docs/baselines.md),
        a model path (.json/.xml) or a Potential. The GAP is fitted to reference − baseline and
        the returned model contains the baselines and predicts the sum.
        optimise_hypers: choose delta of every gap term and the noise sigmas by maximising the sparse
        GP's log marginal likelihood (DTC), starting from the values given; the model is fitted twice. The values
        found and the likelihoods are in the returned model's `hyperparameters` dict.
        True (or "per_kind") finds one noise scale each for energies, forces and virials; "common"
        keeps the given energy:force:virial sigma ratios and finds one scale for them;
        "per_config_type" one per kind and config_type (heteroscedastic data), written as
        config_type_sigma (default_sigma, for config_types absent from training, is kept). With
        noise-free references (EMT) per_kind may give the few energies up for a slightly better fit
        of the many forces; "common" keeps them: docs/uncertainty.md. With fitc, the FITC likelihood
        (its rows are kept in memory, N·M·16 bytes, and refolded at every step).
        fitc: the FITC sparse approximation instead of DTC: each observation's noise also holds the
        part of its prior variance the sparse points do not explain (docs/uncertainty.md).
        force_noise: (edges, factors), force noise that grows with the force: an atom whose reference
        |F| lies in bin b (ascending edges in eV/Å, len(factors) − 1 of them) has force sigma
        σ_F·factors[b]; predictions with noise=True use the bin of the predicted |F|.
        force_noise_bins: with optimise_hypers (per_kind or common), also find one force sigma per
        bin of this many bins of equal counts of the training |F| (returned as
        hyperparameters['force_noise']): for data that mix relaxed cells and hot MD, where one σ_F
        over-covers the first and under-covers the second (docs/uncertainty.md).
        """
        from ase.data import atomic_numbers

        keys = dict(energy_key=energy_key, force_key=force_key, virial_key=virial_key, stress_key=stress_key)
        frames = _frames(data, keys)
        o = _soapgap.FitOptions()
        o.gap = _soapgap.split_gap_string(gap) if isinstance(gap, str) else list(gap)
        o.default_sigma = [float(x) for x in default_sigma][:3]
        for ct, sig in (config_type_sigma or {}).items():
            o.set_config_type_sigma(ct, [float(x) for x in sig][:3])
        if e0 is not None:
            if isinstance(e0, dict):
                unknown = [k for k in e0 if isinstance(k, str) and k not in atomic_numbers]
                if unknown:
                    raise ValueError(f"e0: unknown chemical symbol(s) {unknown} (symbols are case-sensitive, e.g. 'Cu')")
                o.e0 = {(atomic_numbers[k] if isinstance(k, str) else int(k)): float(v) for k, v in e0.items()}
            else:
                species = sorted({z for f in frames for z in f.numbers})
                o.e0 = {z: float(e0) for z in species}
        o.e0_method = e0_method
        o.sparse_jitter = float(sparse_jitter)
        o.energy_key, o.force_key, o.virial_key, o.stress_key = energy_key, force_key, virial_key, stress_key
        o.config_type_key = config_type_key
        o.seed = int(seed)
        o.sigma_per_atom = bool(sigma_per_atom)
        o.fitc = bool(fitc)
        if force_noise is not None:
            edges, factors = force_noise
            o.set_force_noise([float(x) for x in edges], [float(x) for x in factors])
        if verbose:
            o.log = lambda m: print(m, flush=True)
        for b in _baseline_list(baseline):
            if isinstance(b, Potential):
                o.add_baseline_model(b._p, b._p.metadata.get("training_file", "python"))
            else:
                o.add_baseline(str(b))
        if sparse_from is not None and not isinstance(sparse_from, Potential):
            sparse_from = Potential.load(sparse_from)
        source = sparse_from._p if sparse_from is not None else None
        if not optimise_hypers:
            if force_noise_bins != 1:
                raise ValueError("force_noise_bins goes with optimise_hypers (or give force_noise)")
            return cls(_soapgap.Potential.fit(frames, o, source))
        noise = "per_kind" if optimise_hypers is True else optimise_hypers
        if noise not in ("common", "per_kind", "per_config_type"):
            raise ValueError(f"optimise_hypers must be True, 'common', 'per_kind' or 'per_config_type', not {optimise_hypers!r}")
        r = _soapgap.Potential.fit_optimising_hyperparameters(frames, o, source, noise, int(force_noise_bins))
        pot = cls(r.pop("model"))
        pot.hyperparameters = r
        return pot

    @classmethod
    def from_baselines(cls, baselines):
        """A model made of baselines alone (analytic terms and/or earlier models), e.g.
        Potential.from_baselines(["coulomb species={Na Cl} charges={1 -1}", "zbl r_inner=0.8 r_outer=1.6"]);
        it predicts, saves and serves as an ASE calculator like any model."""
        specs = []
        for b in _baseline_list(baselines):
            if isinstance(b, Potential):
                raise TypeError("from_baselines takes option strings or model paths; a Potential is itself a model")
            specs.append(str(b))
        return cls(_soapgap.Potential.from_baselines(specs))

    @property
    def baselines(self):
        """The baseline terms, as option strings."""
        return list(self._p.baselines)

    @classmethod
    def load(cls, path, gap_only=False):
        """Load a soapgap model (.json) or a QUIP/GAP XML potential (.xml). gap_only evaluates
        only the GAP part of an XML Sum potential (like quippy's Potential('IP GAP', ...))."""
        return cls(_soapgap.Potential.load(str(path), gap_only))

    def save(self, path, overwrite=False):
        """Save as a soapgap model (.json), or as QUIP/GAP XML (.xml, plus sparse-point files)."""
        if str(path).endswith(".xml"):
            self._p.write_gap_xml(str(path), overwrite)
        else:
            self._p.save(str(path), overwrite)

    @property
    def cutoff(self):
        return self._p.cutoff

    @property
    def n_sparse(self):
        return self._p.n_sparse

    @property
    def species(self):
        return self._p.species

    @property
    def e0(self):
        return self._p.e0

    @property
    def descriptors(self):
        return self._p.descriptors

    def noise(self, config_type=None):
        """The fit's noise (σ_E, σ_F, σ_V, sigma_per_atom) for a config_type (its
        config_type_sigma, else default_sigma), or None for models that carry none (GAP XML)."""
        meta = self._p.metadata
        if "default_sigma" not in meta:
            return None
        sig = [float(x) for x in meta["default_sigma"].split()][:3]
        parts = meta["config_type_sigma"].split(":") if meta.get("config_type_sigma") else []
        for i in range(0, len(parts) - 3, 4):
            if parts[i] == config_type:
                sig = [float(x) for x in parts[i + 1:i + 4]]
        return sig[0], sig[1], sig[2], meta.get("sigma_per_atom", "T") == "T"

    def force_noise(self, forces, config_type=None):
        """The fit's force noise σ_F (eV/Å) for atoms with these forces (n×3): self.noise()'s σ_F,
        times the factor of each atom's |F| bin when the model has force noise bins; None for
        models that carry no noise."""
        base = self.noise(config_type)
        if base is None:
            return None
        forces = np.asarray(forces, dtype=float).reshape(-1, 3)
        sig = np.full(len(forces), base[1])
        bins = self._p.metadata.get("force_noise_bins")
        if bins:
            edges, factors = (np.array(part.split(), dtype=float) for part in bins.split("|"))
            sig *= factors[np.searchsorted(edges, np.linalg.norm(forces, axis=1), side="right")]
        return sig

    def predict(self, atoms, forces=True, std=False, total_std=False, atom_virials=False, force_std=False,
                noise=False, variance="dtc"):
        """Energy (eV), per-atom energies, forces (eV/Å), virial (3x3, eV, W = -V σ) and
        ASE stress (eV/Å³, Voigt xx yy zz yz xz xy).

        std=True adds the predicted standard deviations of the per-atom energies
        ('energies_std'), at about the cost of the energy itself. total_std=True (with std) adds
        that of the total energy ('energy_std'), which needs the covariance of every pair of
        environments: O(n_env²) kernel evaluations, comparable to the prediction at ~100 atoms
        and dominant beyond a few hundred. atom_virials=True adds 'atom_virials' (n×3×3, eV): each
        environment's virial shared like its energy (the decomposition pair_style soapgap gives LAMMPS;
        its compute stress/atom reports −W in pressure·volume units).

        force_std=True (implies std) adds 'forces_std' (n×3, eV/Å), the predicted standard deviation
        of every force component, from the posterior of the derivative observations (the same DTC
        form as the energies, with the kernel's second derivatives for the prior). With total_std
        it also adds 'virial_std' (3×3, eV) and, for 3D cells, 'stress_std' (Voigt, eV/Å³). Cost:
        the force rows against every sparse point, about what one training frame costs a fit.

        These are the stds of the noise-free prediction. noise=True gives those of a new reference
        observation instead, σ_pred = sqrt(σ² + σ_noise²), with the fit's own noise (self.noise()
        for atoms.info['config_type']): σ_E per atom energy, σ_E·√N for the total (σ_E without
        per-atom sigmas), σ_F per force component (self.force_noise(): by the predicted |F| with
        force noise bins), σ_V·√N for the virial (docs/uncertainty.md).

        variance="dtc" (default): the sparse GP's posterior, σ² = k_** − k_*ᵀK_mm⁻¹k_* + k_*ᵀΣk_*.
        variance="sor": the subset-of-regressors part k_*ᵀΣk_* alone. DTC's training likelihood
        counts what the sparse points cannot represent as noise, so in domain DTC's σ_pred counts it
        twice and over-covers; the SoR σ_pred is calibrated there (with marginal-likelihood
        hyperparameters) and ranks out-of-domain errors as well or better, but its size out of
        domain is too small: use DTC to flag structures unlike the training data
        (docs/uncertainty.md, measured)."""
        std = std or force_std
        if force_std and not forces:
            raise ValueError("force_std needs forces=True")
        if variance not in ("dtc", "sor"):
            raise ValueError(f"variance must be 'dtc' or 'sor', not {variance!r}")
        r = self._p.predict(to_structure(atoms), forces, std, total_std, atom_virials, force_std, variance == "sor")
        out = {"energy": float(r["energy"]), "energies": np.asarray(r["energies"])}
        if forces:
            out["forces"] = np.asarray(r["forces"])
            w = np.asarray(r["virial"])
            out["virial"] = w
            if atoms.cell.rank == 3:
                s = -w / atoms.get_volume()
                out["stress"] = np.array([s[0, 0], s[1, 1], s[2, 2], s[1, 2], s[0, 2], s[0, 1]])
        if atom_virials:
            out["atom_virials"] = np.asarray(r["atom_virials"]).reshape(-1, 3, 3)
        if std:
            if total_std:
                out["energy_std"] = float(r["energy_std"])
            out["energies_std"] = np.asarray(r["energies_std"])
        if force_std:
            out["forces_std"] = np.asarray(r["forces_std"])
            if total_std:
                w = np.asarray(r["virial_std"])
                out["virial_std"] = w
        if noise and std:
            ct = atoms.info.get("config_type", "default")
            _add_noise(out, self.noise(ct), len(atoms), self.force_noise(out["forces"], ct) if forces else None)
        if "virial_std" in out and atoms.cell.rank == 3:
            s = out["virial_std"] / atoms.get_volume()
            out["stress_std"] = np.array([s[0, 0], s[1, 1], s[2, 2], s[1, 2], s[0, 2], s[0, 1]])
        return out

    def local_gap_variance(self, atoms, regularisation=1e-3):
        """QUIP's per-atom `local_gap_variance` (eV²), for comparison with quippy/quip: the
        prior-minus-Nyström variance δ² + f0² + r² − kᵀ(K_mm + r²I)⁻¹k with its own
        regularisation r (QUIP's gap_variance_regularisation). Available for GAP XML models too.
        For calibrated errors use predict(..., std=True), the sparse-GP posterior."""
        return np.asarray(self._p.local_gap_variance(to_structure(atoms), float(regularisation)))

    def calculator(self, std=False, total_std=False, force_std=False, noise=False, variance="dtc"):
        from .calculator import SoapGapCalculator

        return SoapGapCalculator(self, std=std, total_std=total_std, force_std=force_std, noise=noise,
                                 variance=variance)
