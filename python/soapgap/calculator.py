"""ASE calculator for soapgap potentials."""
import os

from ase.calculators.calculator import Calculator, all_changes


class SoapGapCalculator(Calculator):
    """ASE calculator: energy, free_energy (= energy), energies, forces, stress (ASE convention:
    -virial/V, Voigt xx yy zz yz xz xy).

    std=True: results also hold 'energies_std', the predicted standard deviations of the
    per-atom energies (eV), at about the cost of the energy. total_std=True (with std) adds
    'energy_std', that of the total energy: O(n_env²) kernel evaluations per call, as costly as
    the prediction at ~100 atoms and dominant for large cells, so off by default (not for MD).
    force_std=True (implies std) adds 'forces_std' (n×3, eV/Å) and, with total_std, 'stress_std'
    (Voigt, eV/Å³): the posterior standard deviations of the derivative observations.
    noise=True: every std is that of a new reference observation (the fit's noise added:
    Potential.predict). variance: "dtc" (default) or "sor" (Potential.predict, docs/uncertainty.md)."""

    implemented_properties = ["energy", "free_energy", "energies", "forces", "stress"]

    def __init__(self, potential, std=False, total_std=False, force_std=False, noise=False, variance="dtc",
                 **kwargs):
        super().__init__(**kwargs)
        if isinstance(potential, (str, os.PathLike)):
            from .potential import Potential

            potential = Potential.load(potential)
        self.potential = potential
        self.std = std or force_std
        self.total_std = total_std
        self.force_std = force_std
        self.noise = noise
        self.variance = variance

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        super().calculate(atoms, properties, system_changes)
        r = self.potential.predict(self.atoms, forces=True, std=self.std, total_std=self.total_std,
                                   force_std=self.force_std, noise=self.noise, variance=self.variance)
        self.results["energy"] = r["energy"]
        self.results["free_energy"] = r["energy"]
        self.results["energies"] = r["energies"]
        self.results["forces"] = r["forces"]
        if "stress" in r:
            self.results["stress"] = r["stress"]
        elif "stress" in properties:
            from ase.calculators.calculator import PropertyNotImplementedError

            raise PropertyNotImplementedError("stress needs a 3D periodic cell")
        if self.std:
            self.results["energies_std"] = r["energies_std"]
            if self.total_std:
                self.results["energy_std"] = r["energy_std"]
        for key in ("forces_std", "stress_std"):
            if key in r:
                self.results[key] = r[key]
