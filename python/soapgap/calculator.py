"""ASE calculator for soapgap potentials."""
import os

from ase.calculators.calculator import Calculator, all_changes


class SoapGapCalculator(Calculator):
    """ASE calculator: energy, free_energy (= energy), energies, forces, stress (ASE convention:
    -virial/V, Voigt xx yy zz yz xz xy). With std=True, results also hold 'energy_std' and
    'energies_std', the predicted standard deviations of the total and local energies (eV)."""

    implemented_properties = ["energy", "free_energy", "energies", "forces", "stress"]

    def __init__(self, potential, std=False, **kwargs):
        super().__init__(**kwargs)
        if isinstance(potential, (str, os.PathLike)):
            from .potential import Potential

            potential = Potential.load(potential)
        self.potential = potential
        self.std = std

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        super().calculate(atoms, properties, system_changes)
        r = self.potential.predict(self.atoms, forces=True, std=self.std)
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
            self.results["energy_std"] = r["energy_std"]
            self.results["energies_std"] = r["energies_std"]
