// Environment kernels against a set of sparse points (QUIP gp_predict.F90 conventions):
//   dot_product:  k(x, s) = (delta² (x·s)^zeta + f0²) c_s
//   gaussian:     k(x, s) = (delta² exp(-½ Σ_d ((x_d - s_d)/theta_d)²) + f0²) c_s
// where c_s is the sparse point's covariance cutoff (1 for SOAP).
#pragma once
#include <string>
#include <vector>

#include "soapgap/structure.hpp"

namespace soapgap {

struct Kernel {
  enum class Type { DotProduct, Gaussian };
  Type type = Type::DotProduct;
  double delta = 1.0;
  double f0 = 0.0;
  double zeta = 1.0;
  Eigen::VectorXd theta;  // gaussian length scales, one per dimension

  static Type parse_type(const std::string& name);  // dot_product | gaussian | ard_se
  std::string type_name() const;

  // n x M matrix k(x_i, s_j) for rows x of X against rows of S, times sparse cutoffs c.
  RowMatrixXd matrix(const Eigen::Ref<const RowMatrixXd>& X, const RowMatrixXd& S, const Eigen::VectorXd& c) const;
  // Prior covariance k(x_i, x_j) between environments (no sparse cutoff).
  RowMatrixXd prior(const Eigen::Ref<const RowMatrixXd>& X, const Eigen::Ref<const RowMatrixXd>& Y) const;
  // For each row x_i: sum_s w_s dk(x_i, s)/dx  (n x d), given weights w (M) and K = matrix(X, S, c).
  RowMatrixXd weighted_gradient(const Eigen::Ref<const RowMatrixXd>& X, const RowMatrixXd& S, const Eigen::VectorXd& c,
                                const RowMatrixXd& K, const Eigen::VectorXd& w) const;
  // Rows d k(x_e, s)/d r for descriptor gradient rows G (3g x d) of environment rows `env`:
  // writes out (3g x M), entry (r, s) = G_r · dk(x_env(r), s)/dx (views in, a reused buffer out:
  // these blocks are tens of MB, and fresh ones cost page faults).
  void gradient_rows(const Eigen::Ref<const RowMatrixXd>& X, const std::vector<int>& env_of_row,
                     const Eigen::Ref<const RowMatrixXd>& G, const RowMatrixXd& S, const Eigen::VectorXd& c,
                     const Eigen::Ref<const RowMatrixXd>& K, Eigen::Ref<RowMatrixXd> out) const;
  // Prior covariance of two derivative observations of local energies c_e f(x_e), f ~ GP(0, k):
  // Σ_{e∈a, e'∈b} Cov(∂(c_e f(x_e)), ∂(c_e' f(x_e'))), given each environment's descriptor x (rows
  // of X), descriptor derivative g (rows of G), cutoff c and cutoff derivative u:
  //   c c' gᵀ ∂²k/∂x∂x' g' + c u' g·∂k/∂x + u c' g'·∂k/∂x' + u u' k.
  double derivative_covariance(const Eigen::Ref<const RowMatrixXd>& Xa, const Eigen::Ref<const RowMatrixXd>& Ga,
                               const Eigen::VectorXd& ca, const Eigen::VectorXd& ua,
                               const Eigen::Ref<const RowMatrixXd>& Xb, const Eigen::Ref<const RowMatrixXd>& Gb,
                               const Eigen::VectorXd& cb, const Eigen::VectorXd& ub) const;
};

}  // namespace soapgap
