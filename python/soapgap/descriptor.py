"""Per-environment descriptors of ase.Atoms: soap, distance_2b, angle_3b, behler, steinhardt,
angular_dnl (docs/descriptors.md)."""
import numpy as np

from . import _soapgap
from ._convert import to_structure


class Descriptor:
    """A descriptor from a QUIP-style string, e.g. ``"soap n_max=8 l_max=6 atom_sigma=0.5 cutoff=5"``.

    ``compute(atoms, gradients=False)`` returns a dict with
      - ``values``: (n_env, dim) array, one row per environment
      - ``cutoff``: (n_env,) covariance cutoff of each environment
      - with gradients: ``grad_values`` (n_grad, 3, dim) = d values / d r_atom,
        ``grad_index`` (n_grad, 2) = [environment, atom] (0-based, quippy's grad_index_0based
        layout), ``grad_rel`` (n_grad, 3) relative image positions for virials.
    """

    def __init__(self, spec):
        self._d = _soapgap.Descriptor.create(spec)

    @property
    def dimension(self):
        return self._d.dimension

    @property
    def cutoff(self):
        return self._d.cutoff

    def __repr__(self):
        return f"Descriptor({str(self._d)!r})"

    def compute(self, atoms, gradients=False):
        out = self._d.compute(to_structure(atoms), gradients)
        out["values"] = np.asarray(out["values"])
        out["cutoff"] = np.asarray(out["cutoff"])
        if gradients:
            dim = out["values"].shape[1]
            gv = np.asarray(out["grad_values"]).reshape(-1, 3, dim)
            offs = np.asarray(out["grad_offset"])
            env = np.repeat(np.arange(len(offs) - 1), np.diff(offs))
            out["grad_values"] = gv
            out["grad_index"] = np.stack([env, np.asarray(out["grad_atom"])], axis=1)
            out["grad_rel"] = np.asarray(out["grad_rel"])
            out["grad_cutoff"] = np.asarray(out["grad_cutoff"])
        return out
