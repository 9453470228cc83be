// Sparse GP training from total energies, forces and virials (gap_fit semantics).
// The stacked, noise-weighted system [Λ^{-1/2} K_nm ; Lᵀ] α ≈ [Λ^{-1/2} y ; 0] (K_mm = L Lᵀ)
// is solved by a streaming QR: training rows are assembled block by block and folded into the
// M x M triangular factor, so peak memory is O(M² + block·M + environments·d), never O(N·M).
#pragma once
#include <array>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "soapgap/communicator.hpp"
#include "soapgap/marginal_likelihood.hpp"
#include "soapgap/observation_rows.hpp"
#include "soapgap/potential.hpp"
#include "soapgap/sparse_selection.hpp"

namespace soapgap {

// Force noise that grows with the force (heteroscedastic): an atom whose reference |F| lies in bin
// b (ascending edges, eV/Å; bins [−∞, e_1), [e_1, e_2), …, [e_B−1, ∞)) has force sigma σ_F · factors[b].
// Force errors of a GAP, and of DFT itself, grow with |F|: one σ_F for a set that mixes relaxed
// cells and hot MD over-covers the first and under-covers the second (docs/uncertainty.md). A
// prediction uses the bin of its own predicted |F|. Empty: one σ_F for all atoms.
struct ForceNoiseBins {
  std::vector<double> edges, factors;  // B − 1 edges, B factors
  bool empty() const { return factors.empty(); }
  int bin(double force) const;
  void check() const;  // throws unless sizes match, edges ascend and factors are positive
  std::string str() const;  // "e_1 … e_B−1 | f_0 … f_B−1", the model-metadata form
};

struct FitOptions {
  std::vector<std::string> gap;  // one descriptor+kernel string per term, e.g. "soap n_max=8 ... delta=0.2 zeta=4 n_sparse=200"
  std::array<double, 3> default_sigma{0.002, 0.1, 0.05};                // E (eV/atom), F (eV/Å), V (eV/atom)
  std::map<std::string, std::array<double, 3>> config_type_sigma;      // per config_type overrides
  bool sigma_per_atom = true;   // energy and virial sigmas scale with sqrt(N_atoms) (gap_fit default)
  std::map<int, double> e0;     // given per-species e0; if empty, e0_method decides
  std::string e0_method = "isolated";  // isolated | average
  double e0_offset = 0.0;
  double sparse_jitter = 1e-10;
  std::string energy_key = "energy", force_key = "forces", virial_key = "virial", stress_key = "stress";
  std::string config_type_key = "config_type";
  std::string sigma_prefix = "";  // per-frame absolute sigmas: <prefix>energy_sigma, force_sigma, virial_sigma
  ForceNoiseBins force_noise;     // force sigma by the size of the reference force (empty: constant)
  std::uint64_t seed = 0;
  int block_rows = 0;             // rows per QR block; 0 = automatic
  // Take the sparse points of this potential (e.g. a gap_fit XML) instead of selecting them;
  // its descriptors must be the ones the gap terms expand to, in the same order.
  const Potential* sparse_from = nullptr;
  // Fit reference − baselines; the model carries them and predicts the sum. Species whose e0 a
  // model baseline provides get e0 = 0 in the residual (unless e0 is given).
  std::vector<std::shared_ptr<const Baseline>> baselines;
  std::function<void(const std::string&)> log;  // progress output (may be empty)
  // Distributed fit (MPI build): every rank calls fit() with all frames and the same options;
  // frames are shared by atom count, each rank computes descriptors and rows for its share only.
  // The returned model is complete on rank 0; other ranks get the weights, not the factor R.
  const Communicator* comm = nullptr;  // nullptr: serial
  // Solve: "tsqr" (each rank folds its rows into an M x M factor, merged by a reduction tree),
  // "scalapack" (rows kept, block-cyclic pdgeqrf: R distributed), or "auto" (the smaller
  // per-rank memory estimate, solver_memory()).
  std::string solver = "auto";
  // FITC instead of DTC (subset of regressors with the prior term): each observation's noise
  // variance also holds the part of its prior variance the sparse points do not explain,
  // [K_nn − K_nm K_mm⁻¹ K_mn]_ii; the predicted variance uses the resulting posterior factor
  // (same formula). Costs the observations' prior variances and an M x M triangular solve per
  // training row (about half the QR fold again). Serial fits only.
  bool fitc = false;
  // When set (serial fits), also accumulates the statistics of the marginal likelihood
  // (marginal_likelihood.hpp), with the fit's K_mm factor; with fitc, FITC's (the rows themselves).
  LikelihoodStatistics* statistics = nullptr;
};

// Estimated peak bytes on rank 0 (the largest) of the two solve paths for N rows, M sparse points,
// P ranks and QR blocks of b rows: TSQR 8·max(2M² + bM, 3M²) (L, R and the row block; L, two
// augmented triangles while merging, P > 1 only); ScaLAPACK 8·(2N(M+1)/P + 2M²) (the rows twice
// while they are redistributed, then L and the gathered R). Other ranks hold no L: M² less.
// ScaLAPACK needs less only when ranks hold fewer than about M/2 rows each (N/P < M/2 at b = M).
struct SolverMemory {
  double tsqr = 0, scalapack = 0;
};
SolverMemory solver_memory(double N, double M, double P, double block_rows);

// Parses a gap_fit `gap={...}` value ("soap ... : distance_2b ...") into its terms.
std::vector<std::string> split_gap_string(const std::string& gap);

// Refuses a key that neither the term's descriptor nor the kernel/sparse settings know, naming it
// and listing the valid keys (gap_fit's output-only keys are accepted).
void check_gap_term_keys(const Options& term);

Potential fit(const std::vector<Structure>& frames, const FitOptions& opt);

// Training targets of one frame, as used by fit() (exposed for evaluation tools).
struct FrameTargets {
  bool has_energy = false, has_forces = false, has_virial = false;
  double energy = 0.0;          // total, eV (e0 not subtracted)
  Positions forces;
  Eigen::Matrix3d virial = Eigen::Matrix3d::Zero();
  std::array<double, 3> sigma{0, 0, 0};  // absolute sigmas actually used (E total, F, V total)
  std::string config_type = "default";
  std::vector<int> force_bin;      // per atom, with force noise bins (ForceNoiseBins); else empty
  Eigen::VectorXd atom_force_sigma;  // per atom, with force noise bins; else sigma[1] for all
  double force_sigma(int atom) const { return atom_force_sigma.size() ? atom_force_sigma[atom] : sigma[1]; }
  ObservationKinds kinds() const { return {has_energy, has_forces, has_virial}; }
};
FrameTargets frame_targets(const Structure& s, const FitOptions& opt);

// Per-species e0: given, or from isolated-atom frames (one atom, no neighbour within `cutoff`, or
// config_type isolated_atom; disagreeing candidates are an error), or the mean energy per atom.
// Species in `from_baseline` (a model baseline carries their e0) get e0 = 0 unless given in opt.e0.
std::map<int, double> reference_energies(const std::vector<Structure>& frames, const std::vector<FrameTargets>& targets,
                                         const std::vector<int>& species, const FitOptions& opt, double cutoff,
                                         const std::set<int>& from_baseline = {});

// Subtracts the baselines' energies, forces and virials from the targets of frames
// [first, last) (fit on the residual; last < 0: to the end).
void subtract_baselines(const std::vector<Structure>& frames, std::vector<FrameTargets>& targets,
                        const std::vector<std::shared_ptr<const Baseline>>& baselines,
                        const std::function<void(const std::string&)>& log, long first = 0, long last = -1);

}  // namespace soapgap
