// The log marginal likelihood of the sparse GP (DTC: y ~ N(0, Q_nn + Λ), Q_nn = K_nm K_mm⁻¹ K_mn)
// as a function of one signal scale per gap term (δ_t → δ_t √a_t) and one noise scale per noise
// group k (σ → σ √s_k): the observation kinds (energies, forces, virials), optionally per
// config_type, with analytic gradients.
//
// One pass over the noise-weighted training rows A, b (those the fit folds into its QR) folds the
// rows of each group k into a QR: A_k = Q_k R_k, q_k = Q_kᵀb_k, ρ_k = |b_k|² − |q_k|². With
// D = diag(a_t) over term t's columns and K_mm(θ) = D^½ K_mm D^½ + jitter·I = L(θ)L(θ)ᵀ,
//   yᵀ(Q+Λ)⁻¹y = min_α Σ_k |A_k D α − b_k|²/s_k + |L(θ)ᵀα|² (Woodbury) = Σ_k ρ_k/s_k + r²(θ),
//   log|Q+Λ| = log|Λ(θ)| + log|R(θ)ᵀR(θ)| − log|K_mm(θ)| (determinant lemma),
// where R(θ) and the residual r(θ) come from the QR of [R_k D/√s_k, q_k/√s_k (every k); L(θ)ᵀ, 0],
// folded triangle by triangle (streaming_qr.hpp's merge).
// Square-root factors only: the normal matrices would square the condition number, and
// yᵀΛ⁻¹y − hᵀ(K_mm+G)⁻¹h would cancel most of its digits when the fit is good. An evaluation costs
// G merges of (M+1)² triangles (G noise groups with rows, 2/3 M³ flops each), a Cholesky and, for
// the gradient, (G+3) M x M triangular solves; nothing N x N is formed. K_mm is block diagonal over
// gap terms, so each term's scale commutes with its Cholesky factor. The kernel must be
// proportional to δ² (f0 = 0).
#pragma once
#include <functional>
#include <string>
#include <vector>

#include "soapgap/structure.hpp"

namespace soapgap {

// Which rows share a noise scale: all (the given energy:force:virial ratios kept), each
// observation kind (as FLARE), or each kind within each config_type.
enum class NoiseGroups { Common, PerKind, PerConfigType };
NoiseGroups parse_noise_groups(const std::string& name);  // common | per_kind | per_config_type

// FITC (Snelson & Ghahramani 2006): y ~ N(0, Q_nn + Λ_FITC), each row's noise also holding the
// prior variance the sparse points do not explain, λ_i(θ) = s_k σ_i² + Σ_t r_ti(a_t),
// r_ti(a) = a p_ti − a² k_tiᵀ(a K_t + jI)⁻¹k_ti (p_ti the prior variance of row i under term t,
// K_t = V_t diag(e_t) V_tᵀ its sparse block: the Nyström part is a² Σ_e (V_tᵀk_ti)_e²/(a e + j)).
// λ changes row by row with θ, so the rows are kept (unweighted, with (K_nm V)²) and every
// evaluation refolds them: 2·N·M² flops and N·M·16 bytes, against the M³ of DTC's statistics.
struct FitcBlock {
  RowMatrixXd K, z2, prior;   // rows x M: K_nm; (K_nm V)²; rows x T: prior variance per term
  Eigen::VectorXd y, sigma2;  // targets; σ_i² (the given noise)
  std::vector<int> group;
};

struct LikelihoodStatistics {
  static constexpr int kKinds = 3;  // energy, force, virial
  NoiseGroups noise = NoiseGroups::PerKind;
  std::vector<std::string> config_types;  // PerConfigType: fit() lists them here (group = kind + 3 · index)
  // Force rows split by the size of their reference force (ForceNoiseBins, fit.hpp): bin 0 is the
  // force group above; bins 1 … force_bins − 1 are groups of their own after those (not with PerConfigType).
  int force_bins = 1;
  std::vector<Eigen::MatrixXd> R;  // upper triangular factor of each group's rows
  std::vector<Eigen::VectorXd> q;  // Q_kᵀ b_k
  std::vector<double> rho;         // |b_k|² − |q_k|²
  std::vector<long> n;
  double log_lambda = 0.0;      // Σ_i log λ_i at the initial hyperparameters
  Eigen::MatrixXd Kmm;          // K_mm at the initial hyperparameters, without the jitter
  double jitter = 0.0;          // added to K_mm's diagonal whatever the signal scale (as in the fit)
  std::vector<int> term_of_column;  // the gap term of each sparse point (column)
  int n_terms = 0;
  // FITC: set before rows are added (fit() with fitc); R, q, rho then stay empty
  bool fitc = false;
  Eigen::MatrixXd kmm_vectors;      // V: eigenvectors of K_mm's diagonal blocks (block diagonal)
  Eigen::VectorXd kmm_values;       // their eigenvalues (clipped at 0), per column
  std::vector<FitcBlock> fitc_blocks;

  LikelihoodStatistics() = default;
  LikelihoodStatistics(std::vector<int> term_of_column, int n_terms, NoiseGroups noise,
                       std::vector<std::string> config_types = {}, int force_bins = 1);
  int groups() const { return static_cast<int>(n.size()); }
  // The group of a row of this kind in a frame of this config_type (throws for an unknown one);
  // force rows also by their force bin.
  int group(int kind, const std::string& config_type, int force_bin = 0) const;
  // Rows A (noise-weighted), targets b, the group of each row and its sigma.
  void add(const Eigen::Ref<const Eigen::MatrixXd>& A, const Eigen::Ref<const Eigen::VectorXd>& b,
           const std::vector<int>& group, const std::vector<double>& sigma);
  // FITC: rows K (unweighted), targets y, group and given sigma of each row, prior variance per term.
  void add_fitc(const Eigen::Ref<const Eigen::MatrixXd>& K, const Eigen::Ref<const Eigen::VectorXd>& y,
                const std::vector<int>& group, const std::vector<double>& sigma,
                const Eigen::Ref<const RowMatrixXd>& term_prior);
  long rows() const;
};

// θ = [log a_1 .. log a_T, log s_1 .. log s_G] (groups in order; 0: the hyperparameters the
// statistics were taken at). Returns log p and, if asked, ∂ log p / ∂θ (DTC or FITC, as st).
double log_marginal_likelihood(const LikelihoodStatistics& st, const Eigen::VectorXd& theta,
                               Eigen::VectorXd* gradient = nullptr);
double fitc_log_marginal_likelihood(const LikelihoodStatistics& st, const Eigen::VectorXd& theta,
                                    Eigen::VectorXd* gradient = nullptr);

// ∂ log p / ∂ log a_t at fixed noise (DTC's; FITC adds its noise's dependence on a_t): from the
// factor R of [Λ^{-1/2}K_nm D; L(θ)ᵀ], L(θ), the weights α and the jitter j.
Eigen::VectorXd signal_gradient(const Eigen::MatrixXd& R, const Eigen::MatrixXd& L, const Eigen::VectorXd& alpha,
                                const std::vector<int>& term_of_column, int n_terms, double jitter);

struct HyperOptimum {
  Eigen::VectorXd theta;
  double log_likelihood = 0.0, initial = 0.0;
  int iterations = 0;
};
// Maximises log p over θ by BFGS with a backtracking line search (groups without rows stay fixed).
// Throws with advice if the likelihood is not finite or the search does not converge.
HyperOptimum maximise_marginal_likelihood(const LikelihoodStatistics& st, int max_iterations = 200,
                                          const std::function<void(const std::string&)>& log = {});

}  // namespace soapgap
