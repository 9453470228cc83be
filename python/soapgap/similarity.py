"""Structure kernels and kernel distances of whole structures (molecules, crystals).

The environment kernel is C_ij(A, B) = (x̂_i · ŷ_j)^zeta of unit-normalised descriptor rows
(default: SOAP n_max=8 l_max=6 atom_sigma=0.5 Å cutoff=5 Å over the species present). It is
reduced to one number per pair of structures by

- ``average``: (1/(N_A N_B)) Σ_ij C_ij (for zeta = 1 a product of mean descriptors);
- ``sum``: Σ_ij C_ij, for extensive properties (use ``normalise=False``);
- ``best-match``: (1/max(N_A, N_B)) max over assignments Σ_i C_iπ(i) (Jonker–Volgenant); the
  smaller structure is padded with null environments, so unmatched atoms contribute 0;
- ``rematch``: Σ_ij P_ij C_ij with P the entropy-regularised transport plan between uniform
  weights (De, Bartók, Csányi, Ceriotti, PCCP 18, 13754 (2016)); gamma → ∞ gives the average,
  gamma → 0 the optimal transport (equal to best-match for equal sizes).

Normalised (default), K(A, A) = 1 and the kernel distance is D = sqrt(2 − 2K). All numerics run
in C++ (tiles of environments as BLAS matrix products, per-pair reductions in parallel).
"""
import numpy as np

from . import _soapgap
from ._convert import to_structure

KINDS = ("average", "sum", "best-match", "rematch")


def _structures(frames, name):
    if frames is None:
        return None
    frames = list(frames)
    if not frames:
        raise ValueError(f"{name}: no structures")
    return [to_structure(a, source=name, frame=i) for i, a in enumerate(frames)]


class Environments:
    """The unit-normalised descriptor rows of a list of structures, kept for reuse (several
    kernels of the same data, learning curves). ``descriptor`` is a QUIP-style string; None
    picks the default SOAP over the species of ``frames`` (and of ``species_from``)."""

    def __init__(self, frames, descriptor=None, species_from=None, name="structures"):
        structures = _structures(frames, name)
        if descriptor is None:
            extra = _structures(species_from, "species_from") or []
            descriptor = _soapgap.default_similarity_descriptor(structures, extra)
        self._d = _soapgap.Descriptor.create(descriptor)
        self._set = _soapgap.environment_set(self._d, structures)

    @property
    def descriptor(self):
        return self._set.descriptor

    def __len__(self):
        return self._set.size

    @property
    def counts(self):
        return np.diff(np.asarray(self._set.offset))

    @property
    def rows(self):
        """(total environments, dim) array of unit-normalised descriptors."""
        return np.asarray(self._set.rows)

    def per_structure(self):
        """List of (N_s, dim) arrays, one per structure."""
        off = np.asarray(self._set.offset)
        rows = self.rows
        return [rows[off[s]:off[s + 1]] for s in range(len(off) - 1)]


def structure_kernel(frames_a, frames_b=None, kind="average", descriptor=None, zeta=1, gamma=0.1,
                     tolerance=1e-10, max_iterations=100000, normalise=True, distance=False, progress=False):
    """Structure kernel matrix K[a, b] (or the distance sqrt(2 − 2K) with ``distance=True``).

    ``frames_a``/``frames_b``: lists of ase.Atoms or :class:`Environments` (reuse descriptors);
    ``frames_b=None`` compares ``frames_a`` with itself (symmetric, half the work).
    ``kind``: average | sum | best-match | rematch. ``zeta``: positive integer exponent of the
    environment kernel. ``gamma``, ``tolerance`` (L1 error of the plan's marginals) and
    ``max_iterations``: REMatch settings. ``progress``: pair counts on stderr.
    """
    if kind not in KINDS:
        raise ValueError(f"kind={kind!r}: choose one of {', '.join(KINDS)}")
    if int(zeta) != zeta or zeta < 1:
        raise ValueError(f"zeta must be a positive integer, got {zeta!r}")
    if kind == "rematch" and not (gamma > 0 and np.isfinite(gamma)):
        raise ValueError(f"gamma must be a positive number, got {gamma!r}")
    if distance and not normalise:
        raise ValueError("distance=True needs the normalised kernel")
    env_a = frames_a if isinstance(frames_a, Environments) else None
    env_b = frames_b if isinstance(frames_b, Environments) else None
    if env_a is None:
        species_from = None if frames_b is None or env_b is not None else frames_b
        if descriptor is None and env_b is not None:
            descriptor = env_b.descriptor
        env_a = Environments(frames_a, descriptor, species_from=species_from, name="frames_a")
    if frames_b is not None and env_b is None:
        env_b = Environments(frames_b, env_a.descriptor, name="frames_b")
    K = np.asarray(_soapgap.structure_kernel_matrix(env_a._set, None if env_b is None else env_b._set, kind, int(zeta),
                                                    bool(normalise), float(gamma), float(tolerance),
                                                    int(max_iterations), bool(progress)))
    return kernel_distance(K) if distance else K


def kernel_distance(K):
    """D = sqrt(2 − 2K) of a normalised kernel (negative round-off clipped to 0)."""
    return np.sqrt(np.maximum(2.0 - 2.0 * np.asarray(K), 0.0))
