// Observations as linear functionals of the local energies: a frame's total energy, its force
// components and its virial, each a row of K_nm (covariance with every sparse point) and, for the
// predicted variance, a prior variance. The fit stacks these rows (weighted by the noise); the
// prediction turns them into σ² = prior − |L⁻¹k|² + |R⁻ᵀk|² (DESIGN.md, DTC).
#pragma once
#include "soapgap/potential.hpp"

namespace soapgap {

// Which observations of a frame; rows are ordered energy (1), forces (3 per atom, atom-major),
// virial (6: xx, yx, zx, yy, zy, zz, i.e. W(l,k) for k ≤ l, gap_fit's order).
struct ObservationKinds {
  bool energy = false, forces = false, virial = false;
  long rows(int n_atoms) const { return (energy ? 1 : 0) + (forces ? 3L * n_atoms : 0) + (virial ? 6 : 0); }
  int force_row(int atom, int c) const { return (energy ? 1 : 0) + 3 * atom + c; }
  int virial_row(int n_atoms) const { return (energy ? 1 : 0) + (forces ? 3 * n_atoms : 0); }
};

// Reused by one thread for all its frames (fresh 64 MB buffers per frame cost page faults).
struct KernelRowBuffers {
  RowMatrixXd H, GR;  // descriptor-gradient rows (and their per-environment virial sums), their products
};

// Adds to B (rows × M_total, columns m0.. of this coordinate) the rows of the observations of one
// descriptor term: energy Σ_e c_e k(x_e, s), forces −∂/∂r, virial −Σ r_rel ⊗ ∂/∂r. d carries
// gradients when forces or virial are asked for.
void add_observation_rows(const DescriptorData& d, const Coordinate& co, ObservationKinds kinds, int n_atoms, int m0,
                          RowMatrixXd& B, KernelRowBuffers& buf);

// Prior variance of the sum of one descriptor term's local energies, Σ_{e,e'} c_e c_e' k(x_e, x_e')
// (O(n_env² · d), in blocks of bounded memory).
double energy_prior(const DescriptorData& d, const Kernel& kernel);

// Prior variance of each force and virial observation of one descriptor term (the energy's is
// energy_prior): Var Σ_e ∂(c_e ε_e) with ε ~ GP(0, k), from the kernel's second derivatives
// contracted with the descriptor gradients (Kernel::derivative_covariance).
// Returns rows() − energy entries, forces then virial. Forces cost O(neighbours² · d) per atom; the
// virial O(n_env² · d) per frame.
Eigen::VectorXd derivative_prior(const DescriptorData& d, const Kernel& kernel, ObservationKinds kinds, int n_atoms);

}  // namespace soapgap
