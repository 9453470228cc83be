// Structure kernels: similarities of whole structures (molecules, crystals) built from the
// environment kernel C_ij(A, B) = (x̂_i · ŷ_j)^zeta of unit-normalised descriptor rows.
//   average     K(A,B) = (1/(N_A N_B)) Σ_ij C_ij
//   sum         K(A,B) = Σ_ij C_ij                     (extensive properties; use unnormalised)
//   best-match  K(A,B) = (1/max(N_A,N_B)) max_π Σ_i C_iπ(i): an optimal assignment; the smaller
//               structure is padded with null environments (C = 0), so unmatched atoms count 0
//   rematch     K(A,B) = Σ_ij P_ij C_ij, P the entropy-regularised transport plan with uniform
//               marginals (assignment.hpp); gamma -> inf gives average, gamma -> 0 the optimal
//               transport, which equals best-match for N_A = N_B
// Normalised: K(A,B) / sqrt(K(A,A) K(B,B)), so K(A,A) = 1; distance D² = 2 - 2K.
#pragma once
#include <functional>
#include <string>
#include <vector>

#include "soapgap/assignment.hpp"
#include "soapgap/descriptor.hpp"

namespace soapgap {

// The environments of a list of structures: unit-normalised descriptor rows, stacked.
struct EnvironmentSet {
  std::string descriptor;        // the descriptor string, so two sets can be checked to match
  RowMatrixXd rows;              // (Σ N_s) x dim, each row of norm 1
  std::vector<Eigen::Index> offset{0};  // environments of structure s: rows offset[s]..offset[s+1)
  int size() const { return static_cast<int>(offset.size()) - 1; }
  Eigen::Index count(int s) const { return offset[s + 1] - offset[s]; }
};

// The descriptor used when none is given: SOAP (n_max 8, l_max 6, atom_sigma 0.5 Å, cutoff 5 Å)
// with one neighbour channel per species present, centred on every atom.
std::string default_similarity_descriptor(const std::vector<Structure>& a, const std::vector<Structure>& b = {});

// Descriptors of every structure (in parallel over structures). Throws naming the frame for an
// empty structure, a structure with no environment, or an atom whose species the descriptor
// does not cover (SOAP species_Z).
EnvironmentSet environment_set(const Descriptor& d, const std::vector<Structure>& structures);

struct StructureKernelSettings {
  enum class Kind { Average, Sum, BestMatch, Rematch };
  Kind kind = Kind::Average;
  int zeta = 1;              // positive integer: C stays defined for negative overlaps
  bool normalise = true;
  RematchSettings rematch;   // gamma, tolerance, iteration cap
  static Kind parse_kind(const std::string& name);  // average | sum | best-match | rematch
};

// Called now and then with (structure pairs done, total); from the calling thread only.
using Progress = std::function<void(long long done, long long total)>;

// The kernel matrix of A against B (|A| x |B|), or of A against itself if B is null (then
// symmetric, and only the upper triangle is computed). Environment kernels are evaluated in
// tiles of ~2048 environments: one BLAS product (DGEMM) per tile, the per-pair reductions in parallel (OpenMP).
RowMatrixXd structure_kernel_matrix(const EnvironmentSet& A, const EnvironmentSet* B,
                                    const StructureKernelSettings& settings, const Progress& progress = {});

// Kernel of one pair from its environment kernel matrix C (already raised to zeta), unnormalised.
double structure_kernel_value(const RowMatrixXd& C, const StructureKernelSettings& settings);

}  // namespace soapgap
