"""soapgap: SOAP descriptors and sparse-GP (GAP) interatomic potentials.

The numerics live in the C++ engine (``soapgap._soapgap``); this package converts ASE
objects, offers an ASE calculator and keeps the Python API small:

    >>> import soapgap
    >>> pot = soapgap.Potential.fit(frames, gap="soap n_max=8 l_max=6 atom_sigma=0.5 cutoff=5 "
    ...                             "delta=0.2 zeta=4 n_sparse=200 sparse_method=cur_points",
    ...                             default_sigma=(0.002, 0.1, 0.05))
    >>> pot.save("model.json"); pot = soapgap.Potential.load("model.json")
    >>> atoms.calc = pot.calculator(); atoms.get_forces()
    >>> K = soapgap.structure_kernel(frames, kind="rematch", gamma=0.1, zeta=2)  # whole-structure similarity
"""
from ._soapgap import SoapgapError, read_extxyz as _read_extxyz
from ._convert import to_structure, to_atoms
from .descriptor import Descriptor
from .potential import Potential
from .calculator import SoapGapCalculator
from .similarity import Environments, kernel_distance, structure_kernel

__all__ = ["Descriptor", "Environments", "Potential", "SoapGapCalculator", "SoapgapError", "kernel_distance",
           "read_extxyz", "structure_kernel", "to_structure", "to_atoms"]
__version__ = "0.1.0"


def read_extxyz(path):
    """Read an extended-XYZ file with the engine's streaming reader; returns a list of ase.Atoms."""
    return [to_atoms(s) for s in _read_extxyz(str(path))]
