// The log marginal likelihood of the sparse GP (DTC: y ~ N(0, Q_nn + Λ), Q_nn = K_nm K_mm⁻¹ K_mn)
// as a function of one signal scale per gap term (δ_t → δ_t √a_t) and one noise scale per
// observation kind (σ_k → σ_k √s_k for energies, forces, virials), with analytic gradients.
//
// One pass over the noise-weighted training rows A (those the fit folds into its QR) gives, per
// kind k, G_k = A_kᵀA_k, h_k = A_kᵀb_k and c_k = |b_k|². Whitened by K_mm = L Lᵀ (B_k = L⁻¹G_kL⁻ᵀ,
// b_k = L⁻¹h_k; L is block diagonal over terms, so the scales commute with it):
//   B(θ) = D^½ (Σ_k B_k/s_k) D^½,  β(θ) = D^½ Σ_k b_k/s_k,  D = diag(a_t) over term t's columns,
//   log p = −½ (Σ_k c_k/s_k − βᵀ(I+B)⁻¹β) − ½ (Σ_k n_k log s_k + log|I+B|) − ½ Σ_i log 2πλ_i,
// from log|Q+Λ| = log|Λ| + log|I + L⁻¹K_mnΛ⁻¹K_nmL⁻ᵀ| (determinant lemma) and
// yᵀ(Q+Λ)⁻¹y = yᵀΛ⁻¹y − hᵀ(K_mm + G)⁻¹h (Woodbury). An evaluation costs one Cholesky and one
// inverse of the M x M matrix I + B (eigenvalues ≥ 1: well conditioned); nothing N x N is formed.
// The kernel must be proportional to δ² (f0 = 0).
#pragma once
#include <array>
#include <functional>
#include <string>
#include <vector>

#include "soapgap/structure.hpp"

namespace soapgap {

struct LikelihoodStatistics {
  static constexpr int kKinds = 3;  // energy, force, virial
  std::array<Eigen::MatrixXd, kKinds> G;  // lower triangles while accumulating; whitened B_k after finish()
  std::array<Eigen::VectorXd, kKinds> h;  // whitened b_k after finish()
  std::array<double, kKinds> c{0, 0, 0};
  std::array<long, kKinds> n{0, 0, 0};
  double log_lambda = 0.0;      // Σ_i log λ_i at the initial hyperparameters
  std::vector<int> term_of_column;  // the gap term of each sparse point (column)
  int n_terms = 0;

  LikelihoodStatistics() = default;
  LikelihoodStatistics(std::vector<int> term_of_column, int n_terms);
  // Rows A (noise-weighted), targets b, the kind of each row (0, 1, 2) and its sigma.
  void add(const Eigen::Ref<const Eigen::MatrixXd>& A, const Eigen::Ref<const Eigen::VectorXd>& b,
           const std::vector<int>& kind, const std::vector<double>& sigma);
  void whiten(const Eigen::MatrixXd& L);  // L: lower Cholesky factor of K_mm
  long rows() const { return n[0] + n[1] + n[2]; }
};

// θ = [log a_1 .. log a_T, log s_E, log s_F, log s_V] (0: the hyperparameters the statistics were
// taken at). Returns log p and, if asked, ∂ log p / ∂θ.
double log_marginal_likelihood(const LikelihoodStatistics& st, const Eigen::VectorXd& theta,
                               Eigen::VectorXd* gradient = nullptr);

struct HyperOptimum {
  Eigen::VectorXd theta;
  double log_likelihood = 0.0, initial = 0.0;
  int iterations = 0;
};
// Maximises log p over θ by BFGS with a backtracking line search (kinds without rows stay fixed).
// Throws with advice if the likelihood is not finite or the search does not converge.
HyperOptimum maximise_marginal_likelihood(const LikelihoodStatistics& st, int max_iterations = 200,
                                          const std::function<void(const std::string&)>& log = {});

}  // namespace soapgap
