// A GAP potential: a sum over descriptors ("coordinates", as in QUIP) of sparse-GP local
// energies plus per-species e0 plus baselines (analytic terms, earlier models; baseline.hpp). Predicts energy, forces, virial, per-atom energies and the
// predicted standard deviation of local and total energies (DESIGN.md):
//   σ²(x) = k(x,x) - k_xm K_mm⁻¹ k_mx + k_xm Σ k_mx,  Σ = (K_mm + K_mn Λ⁻¹ K_nm)⁻¹ = (RᵀR)⁻¹,
// and the same DTC form for forces and virials, whose k_xm are derivative rows (observation_rows.hpp).
#pragma once
#include <cmath>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "soapgap/baseline.hpp"
#include "soapgap/descriptor.hpp"
#include "soapgap/kernel.hpp"
#include "soapgap/neighbours.hpp"

namespace soapgap {

struct Coordinate {
  std::string descriptor_string;           // QUIP-style, reconstructs the descriptor
  std::shared_ptr<const Descriptor> descriptor;
  Kernel kernel;
  RowMatrixXd sparse;                      // M x d sparse environments
  Eigen::VectorXd sparse_cutoff;           // M covariance cutoffs of the sparse points
  Eigen::VectorXd alpha;                   // M weights
  int n_sparse() const { return static_cast<int>(sparse.rows()); }
};

struct Prediction {
  double energy = 0.0;
  Eigen::VectorXd energies;                // per-atom energies (incl. e0)
  Positions forces;                        // eV/Å
  Eigen::Matrix3d virial = Eigen::Matrix3d::Zero();  // eV, W = -V σ
  RowMatrixXd atom_virials;                // n x 9 (row-major 3x3), when requested: each environment's
                                           // −Σ r_rel ⊗ ∂E/∂r shared like its energy; sums to virial
  bool has_std = false;
  double energy_std = 0.0;                 // predicted std of the total energy (eV)
  Eigen::VectorXd energies_std;            // predicted std of each local energy (eV); NaN for ghost atoms
  Positions forces_std;                    // predicted std of each force component (eV/Å), with force_variance
  Eigen::Matrix3d virial_std = Eigen::Matrix3d::Constant(std::nan(""));  // of each virial component (eV),
                                                                         // with force_variance and total_variance
};

struct PredictOptions {
  bool forces = true;
  bool variance = false;
  bool total_variance = false;  // also the total-energy std: O(n_env²) kernel evaluations per coordinate
  // Also the std of every force component (and of the virial with total_variance): the rows of the
  // force observations against the sparse points (3n x M, as in a fit: about the cost of a training
  // frame's kernel rows) and their prior variance from the kernel's second derivatives
  // (O(neighbours² · d) per atom; the virial's O(n_env² · d)). Implies variance.
  bool force_variance = false;
  // Atoms of species without e0 are allowed (no e0, no energy) when no descriptor sees them: how a
  // model acting as a baseline is evaluated on frames with species added on top of it.
  bool spectators = false;
  bool atom_virials = false;  // per-atom virials (recomputes descriptor gradients)
  // The subset-of-regressors variance σ² = kᵀΣk instead of DTC's (no prior − Nyström term: the
  // variance the sparse points cannot represent, which DTC's training likelihood gives to the noise).
  bool subset_of_regressors = false;
};

class Potential {
 public:
  std::vector<Coordinate> coordinates;
  std::map<int, double> e0;               // per species; species absent here are unknown
  Eigen::MatrixXd L;                      // lower Cholesky factor of K_mm (+ jitter), block diagonal
  Eigen::MatrixXd R;                      // upper triangular, RᵀR = K_mm + K_mn Λ⁻¹ K_nm (empty: no variance)
  std::vector<std::shared_ptr<const Baseline>> baselines;  // added to every prediction (no variance)
  std::map<std::string, std::string> metadata;  // fit settings, for provenance

  double cutoff() const;
  int n_sparse_total() const;
  std::vector<int> species() const;
  Prediction predict(const Structure& s, const PredictOptions& opt = {}) const;
  // With a given neighbour list (an MD code's domain): atoms beyond nl.centres() are ghosts, whose
  // energy shares, forces and virial contributions are returned for the caller to fold back.
  Prediction predict(const Structure& s, const NeighbourList& nl, const PredictOptions& opt = {}) const;
  // QUIP's `local_gap_variance` (gp_predict.F90), for users comparing with quippy: per descriptor
  // instance v = δ² + f0² + r² − kᵀ(K_mm + r²I)⁻¹k (a prior-minus-Nyström form with its own
  // regularisation r, not the posterior above); per atom Σ v·fc²/|ci| over its instances.
  // Works for models read from GAP XML (no posterior factor needed). Costs one M³/3 Cholesky
  // per descriptor term per call.
  Eigen::VectorXd local_gap_variance(const Structure& s, double regularisation = 1e-3) const;
  // Throws naming the frame and atom if s has a species the model was not trained on (a model of
  // baselines alone, without e0, leaves the check to its terms). With spectators, species no
  // descriptor sees are allowed.
  void check_species(const Structure& s, bool spectators = false) const;

 private:
  // Posterior std of observations with rows k (M x n_obs, columns against the sparse points) and
  // prior variances `prior` (DTC).
  Eigen::VectorXd posterior_std(const Eigen::Ref<const Eigen::MatrixXd>& k, const Eigen::VectorXd& prior,
                                bool subset_of_regressors) const;
  void add_force_std(const Structure& s, const NeighbourList& nl, const PredictOptions& opt, Prediction& out) const;
};

}  // namespace soapgap
