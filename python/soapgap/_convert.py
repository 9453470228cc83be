"""Conversion between ase.Atoms and the engine's Structure (no numerics here)."""
import numpy as np

from . import _soapgap


def _calc_value(atoms, key):
    """A result of the attached calculator (e.g. the SinglePointCalculator of ase.io.read) that
    belongs to the current positions; None if absent or stale (the atoms moved since)."""
    calc = atoms.calc
    if calc is None or not hasattr(calc, "get_property"):
        return None
    try:
        return calc.get_property(key, atoms, allow_calculation=False)
    except Exception:  # PropertyNotImplementedError and the like: no such reference value
        return None


def _info_value(atoms, key):
    """A frame property from atoms.info, or from the attached calculator's current results."""
    if key in atoms.info:
        return atoms.info[key]
    return _calc_value(atoms, key)


def to_structure(atoms, energy_key="energy", force_key="forces", virial_key="virial", stress_key="stress",
                 source="", frame=-1):
    """Convert an ase.Atoms (with optional reference data) to an engine Structure.

    Reference data are taken from atoms.info / atoms.arrays, or from a calculator's results
    (so frames read with ase.io.read keep their energies and forces).
    """
    cell = np.array(atoms.cell[:], dtype=float)
    s = _soapgap.Structure(np.ascontiguousarray(atoms.positions, dtype=float),
                           [int(z) for z in atoms.numbers], cell, [bool(p) for p in atoms.pbc])
    s.source = source
    s.frame = frame
    for key, value in atoms.info.items():
        if isinstance(value, str):
            s.set_info_string(key, value)
        elif isinstance(value, (bool, np.bool_)):
            continue
        else:
            try:
                arr = np.asarray(value, dtype=float).ravel()
            except (TypeError, ValueError):
                continue
            s.set_info_reals(key, arr.tolist())
    for key in (energy_key, stress_key):
        if key not in atoms.info:
            v = _info_value(atoms, key)
            if v is not None:
                s.set_info_reals(key, np.asarray(v, dtype=float).ravel().tolist())
    forces = atoms.arrays.get(force_key)
    if forces is None and force_key == "forces":
        forces = _calc_value(atoms, "forces")
    if forces is not None:
        s.set_array(force_key, np.ascontiguousarray(forces, dtype=float).reshape(len(atoms), 3))
    for key, value in atoms.arrays.items():
        if key in ("positions", "numbers", force_key):
            continue
        value = np.asarray(value)
        if value.dtype.kind == "f" and value.ndim <= 2:
            s.set_array(key, np.ascontiguousarray(value, dtype=float).reshape(len(atoms), -1))
    return s


def to_atoms(structure):
    """Engine Structure -> ase.Atoms (info and numeric arrays copied)."""
    from ase import Atoms

    atoms = Atoms(numbers=structure.numbers, positions=structure.positions, cell=structure.cell, pbc=structure.pbc)
    for key, value in structure.info().items():
        if isinstance(value, str):
            atoms.info[key] = value
        else:
            value = np.asarray(value)
            atoms.info[key] = value.reshape(3, 3) if value.size == 9 and key in ("virial", "stress") else (
                value[0] if value.size == 1 else value)
    for key, value in structure.arrays().items():
        atoms.arrays[key] = np.asarray(value) if np.asarray(value).shape[1] > 1 else np.asarray(value)[:, 0]
    return atoms
