#include "soapgap/kernel.hpp"

#include <cmath>

#include "soapgap/blas.hpp"
#include "soapgap/error.hpp"

namespace soapgap {

Kernel::Type Kernel::parse_type(const std::string& name) {
  if (name == "dot_product") return Type::DotProduct;
  if (name == "gaussian" || name == "ard_se") return Type::Gaussian;
  throw Error("unknown covariance_type '" + name + "' (supported: dot_product, gaussian/ard_se)");
}

std::string Kernel::type_name() const { return type == Type::DotProduct ? "dot_product" : "gaussian"; }

namespace {
// x^zeta with an integer fast path (QUIP uses integer powers for integer zeta)
inline double power(double x, double zeta) {
  if (zeta == std::floor(zeta) && zeta >= 0 && zeta <= 16) {
    double r = 1.0;
    for (int k = 0; k < static_cast<int>(zeta); ++k) r *= x;
    return r;
  }
  return std::pow(x, zeta);
}

RowMatrixXd scaled_distances(const Eigen::Ref<const RowMatrixXd>& X, const Eigen::Ref<const RowMatrixXd>& S,
                             const Eigen::VectorXd& theta) {
  // ½ Σ ((x - s)/θ)² for all pairs
  const Eigen::RowVectorXd inv = theta.cwiseInverse().transpose();
  const RowMatrixXd Xs = X.array().rowwise() * inv.array();
  const RowMatrixXd Ss = S.array().rowwise() * inv.array();
  RowMatrixXd D = -(Xs * Ss.transpose());
  D.colwise() += 0.5 * Xs.rowwise().squaredNorm();
  D.rowwise() += 0.5 * Ss.rowwise().squaredNorm().transpose();
  return D.cwiseMax(0.0);
}
}  // namespace

RowMatrixXd Kernel::matrix(const Eigen::Ref<const RowMatrixXd>& X, const RowMatrixXd& S, const Eigen::VectorXd& c) const {
  RowMatrixXd K = prior(X, S);
  K.array().rowwise() *= c.transpose().array();
  return K;
}

RowMatrixXd Kernel::prior(const Eigen::Ref<const RowMatrixXd>& X, const Eigen::Ref<const RowMatrixXd>& Y) const {
  const double d2 = delta * delta, f2 = f0 * f0;
  if (type == Type::DotProduct) {
    RowMatrixXd K = X * Y.transpose();
    return K.unaryExpr([&](double v) { return d2 * power(v, zeta) + f2; });
  }
  if (theta.size() != X.cols()) throw Error("gaussian kernel: theta has wrong length");
  return scaled_distances(X, Y, theta).unaryExpr([&](double v) { return d2 * std::exp(-v) + f2; });
}

RowMatrixXd Kernel::weighted_gradient(const Eigen::Ref<const RowMatrixXd>& X, const RowMatrixXd& S,
                                      const Eigen::VectorXd& c, const RowMatrixXd& K, const Eigen::VectorXd& w) const {
  const double d2 = delta * delta, f2 = f0 * f0;
  const Eigen::RowVectorXd wc = (w.array() * c.array()).transpose();
  if (type == Type::DotProduct) {
    // dk/dx = delta² zeta (x·s)^(zeta-1) c_s s
    RowMatrixXd D = X * S.transpose();
    D = D.unaryExpr([&](double v) { return d2 * zeta * power(v, zeta - 1.0); });
    D.array().rowwise() *= wc.array();
    return D * S;
  }
  // dk/dx = (k/c - f0²) c (s - x)/θ²
  RowMatrixXd Ke = K;
  Ke.array().rowwise() -= f2 * c.transpose().array();
  Ke.array().rowwise() *= w.transpose().array();
  RowMatrixXd G = Ke * S;
  G -= (Ke.rowwise().sum().asDiagonal() * X);
  G.array().rowwise() /= theta.array().square().transpose();
  return G;
}

void Kernel::gradient_rows(const Eigen::Ref<const RowMatrixXd>& X, const std::vector<int>& env,
                           const Eigen::Ref<const RowMatrixXd>& G, const RowMatrixXd& S, const Eigen::VectorXd& c,
                           const Eigen::Ref<const RowMatrixXd>& K, Eigen::Ref<RowMatrixXd> GS) const {
  const double d2 = delta * delta, f2 = f0 * f0;
  const Eigen::Index nr = G.rows();
  if (type == Type::DotProduct) {
    multiply_abt(G, S, GS);  // (3g x M)
    RowMatrixXd D(X.rows(), S.rows());
    multiply_abt(X, S, D);  // n_env x M
    D = D.unaryExpr([&](double v) { return d2 * zeta * power(v, zeta - 1.0); });
    D.array().rowwise() *= c.transpose().array();
    for (Eigen::Index r = 0; r < nr; ++r) GS.row(r).array() *= D.row(env[r]).array();
    return;
  }
  const Eigen::RowVectorXd it2 = theta.array().square().inverse().transpose();
  const RowMatrixXd Gt = G.array().rowwise() * it2.array();
  multiply_abt(Gt, S, GS);
  for (Eigen::Index r = 0; r < nr; ++r) {
    const double gx = Gt.row(r).dot(X.row(env[r]));
    GS.row(r).array() -= gx;
    GS.row(r).array() *= (K.row(env[r]).array() - f2 * c.transpose().array());
  }
}

RowMatrixXd Kernel::metric_scaled(const Eigen::Ref<const RowMatrixXd>& X) const {
  if (type == Type::DotProduct) return X;
  if (theta.size() != X.cols()) throw Error("gaussian kernel: theta has wrong length");
  return X.array().rowwise() * theta.cwiseInverse().transpose().array();
}

double Kernel::derivative_covariance(const DerivativeProducts& p, const Eigen::VectorXd& ca, const Eigen::VectorXd& ua,
                                     const Eigen::VectorXd& cb, const Eigen::VectorXd& ub) const {
  const double d2 = delta * delta, f2 = f0 * f0;
  double sum = 0.0;
  if (type == Type::DotProduct) {
    // k = δ² q^ζ + f0², q = x·x': ∂k/∂x = δ²ζ q^(ζ-1) x', ∂k/∂x' = δ²ζ q^(ζ-1) x,
    // ∂²k/∂x_i∂x'_j = δ²[ζ q^(ζ-1) δ_ij + ζ(ζ-1) q^(ζ-2) x'_i x_j]
    for (Eigen::Index e = 0; e < p.Q.rows(); ++e)
      for (Eigen::Index f = 0; f < p.Q.cols(); ++f) {
        const double q = p.Q(e, f), d1 = d2 * zeta * power(q, zeta - 1.0);
        double h = d1 * p.P(e, f);
        if (zeta != 1.0) h += d2 * zeta * (zeta - 1.0) * power(q, zeta - 2.0) * p.A1(e, f) * p.A2(e, f);
        sum += ca[e] * cb[f] * h + ca[e] * ub[f] * d1 * p.A1(e, f) + ua[e] * cb[f] * d1 * p.A2(e, f) +
               ua[e] * ub[f] * (d2 * power(q, zeta) + f2);
      }
    return sum;
  }
  // In the scaled coordinates (x/θ): k = δ² E + f0², E = exp(-½|x - x'|²), D = x - x':
  // ∂k/∂x = -δ²E D, ∂k/∂x' = δ²E D, ∂²k/∂x_i∂x'_j = δ²E (δ_ij - D_i D_j)
  for (Eigen::Index e = 0; e < p.Q.rows(); ++e)
    for (Eigen::Index f = 0; f < p.Q.cols(); ++f) {
      const double k = d2 * std::exp(-0.5 * std::max(0.0, p.xa2[e] + p.xb2[f] - 2 * p.Q(e, f)));
      const double gD = p.ga_xa[e] - p.A1(e, f), Dg = p.A2(e, f) - p.xb_gb[f];
      sum += ca[e] * cb[f] * k * (p.P(e, f) - gD * Dg) - ca[e] * ub[f] * k * gD + ua[e] * cb[f] * k * Dg +
             ua[e] * ub[f] * (k + f2);
    }
  return sum;
}

}  // namespace soapgap
