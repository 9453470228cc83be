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
  // Inner products between the environments of two sets a, b and their descriptor derivatives, in
  // the kernel's metric (gaussian: coordinates scaled by 1/θ): Q = x·x', P = g·g', A1 = g·x',
  // A2 = x·g' (|a| x |b|), and per environment g·x (a), x'·g' (b), |x|², |x'|².
  struct DerivativeProducts {
    RowMatrixXd Q, P, A1, A2;
    Eigen::VectorXd ga_xa, xb_gb, xa2, xb2;
  };
  // Coordinates in the kernel's metric: the products above are plain dot products of these.
  RowMatrixXd metric_scaled(const Eigen::Ref<const RowMatrixXd>& X) const;
  // Prior covariance of two derivative observations of local energies c_e f(x_e), f ~ GP(0, k):
  // Σ_{e∈a, e'∈b} Cov(∂(c_e f(x_e)), ∂(c_e' f(x_e'))), given each environment's cutoff c and
  // cutoff derivative u and the products p:
  //   c c' gᵀ ∂²k/∂x∂x' g' + c u' g·∂k/∂x + u c' g'·∂k/∂x' + u u' k.
  double derivative_covariance(const DerivativeProducts& p, const Eigen::VectorXd& ca, const Eigen::VectorXd& ua,
                               const Eigen::VectorXd& cb, const Eigen::VectorXd& ub) const;
};

}  // namespace soapgap
