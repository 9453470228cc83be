#include "soapgap/steinhardt.hpp"

#include <cmath>
#include <numbers>
#include <sstream>

#include "soapgap/cutoff.hpp"
#include "soapgap/error.hpp"
#include "soapgap/wigner.hpp"

namespace soapgap {

namespace {
int checked_l_max(const Options& o) {
  const int l = o.get_int({"l_max"}, 12);
  if (l < 1 || l > kMaxSteinhardtL)
    throw Error(o.context() + ": steinhardt l_max must be in 1.." + std::to_string(kMaxSteinhardtL) + ", got " +
                std::to_string(l));
  return l;
}
}  // namespace

const std::vector<std::string>& steinhardt_keys() {
  static const std::vector<std::string> keys = [] {
    std::vector<std::string> k = centred_descriptor_keys();
    k.push_back("l_max");
    k.push_back("w");
    return k;
  }();
  return keys;
}

Steinhardt::Steinhardt(const Options& o)
    : CentredDescriptor(o, 0.5), l_max_(checked_l_max(o)), with_w_(o.get_bool({"w"}, true)), sph_(l_max_) {
  three_j_.resize(l_max_ + 1);
  for (int l = 2; l <= l_max_; l += 2) {
    const int w = 2 * l + 1;
    three_j_[l].assign(static_cast<size_t>(w) * w, 0.0);
    for (int m1 = -l; m1 <= l; ++m1)
      for (int m2 = -l; m2 <= l; ++m2) three_j_[l][(m1 + l) * w + m2 + l] = wigner_3j(l, l, l, m1, m2, -m1 - m2);
  }
}

std::string Steinhardt::to_string() const {
  std::ostringstream o;
  o << "steinhardt " << common_options() << " l_max=" << l_max_ << " w=" << (with_w_ ? "T" : "F");
  return o.str();
}

void Steinhardt::evaluate(const CentredEnvironment& env, double* x, RowMatrixXd* dx) const {
  const int nlm = sph_.size(), n = env.size();
  // a_lm = Σ_j w_j Y_lm(r̂_j) / Σ_j w_j (real harmonics), with da_lm/dr_j when asked
  std::vector<double> w(n), dw(n);
  Eigen::VectorXd a = Eigen::VectorXd::Zero(nlm);
  std::vector<double> Yall(static_cast<size_t>(n) * nlm), dYall(dx ? 3 * static_cast<size_t>(n) * nlm : 0);
  double wsum = 0.0;
  for (int j = 0; j < n; ++j) {
    const CutoffValue fc = cosine_cutoff(env.r[j], cutoff(), width());
    w[j] = fc.f;
    dw[j] = fc.df;
    wsum += fc.f;
    sph_.compute(env.rij[j].data(), Yall.data() + static_cast<size_t>(j) * nlm,
                 dx ? dYall.data() + 3 * static_cast<size_t>(j) * nlm : nullptr);
    for (int lm = 0; lm < nlm; ++lm) a[lm] += fc.f * Yall[static_cast<size_t>(j) * nlm + lm];
  }
  if (!(wsum > 0)) return;  // no neighbour: every invariant is 0
  a /= wsum;
  // dx/da, one row per output
  const int dim = dimension();
  RowMatrixXd dxda = RowMatrixXd::Zero(dim, nlm);
  for (int l = 1; l <= l_max_; ++l) {
    const int l0 = l * l, width2 = 2 * l + 1;
    const double S = a.segment(l0, width2).squaredNorm();
    const double c = 4.0 * std::numbers::pi / width2;
    if (S < 1e-28) continue;  // Q_l = 0 (not differentiable there), Ŵ_l undefined: both left 0
    x[l - 1] = std::sqrt(c * S);
    dxda.row(l - 1).segment(l0, width2) = (c / x[l - 1]) * a.segment(l0, width2).transpose();
    if (!with_w_ || l % 2) continue;
    using cd = std::complex<double>;
    std::vector<cd> q(width2);
    real_to_complex(l, a.data() + l0, q.data());
    // W = Σ C(m1,m2) q_m1 q_m2 q_-(m1+m2); G_m = Σ_m2 C(m,m2) q_m2 q_-(m+m2)
    // (the 3j symbol with three equal even l is symmetric in its columns)
    const std::vector<double>& C = three_j_[l];
    cd W = 0.0;
    std::vector<cd> G(width2, 0.0);
    for (int m1 = -l; m1 <= l; ++m1)
      for (int m2 = std::max(-l, -l - m1); m2 <= std::min(l, l - m1); ++m2) {
        const cd t = C[(m1 + l) * width2 + m2 + l] * q[m2 + l] * q[-m1 - m2 + l];
        G[m1 + l] += t;
        W += q[m1 + l] * t;
      }
    const int row = l_max_ + l / 2 - 1;
    const double S32 = std::pow(S, 1.5);
    x[row] = W.real() / S32;
    // dW/dq_m = 3 G_m (W holds no q*)
    for (cd& g : G) g *= 3.0;
    const std::vector<cd> none(width2, 0.0);
    Eigen::RowVectorXd dW = Eigen::RowVectorXd::Zero(width2);
    complex_to_real_gradient(l, G.data(), none.data(), dW.data());
    dxda.row(row).segment(l0, width2) = dW / S32 - (3.0 * W.real() / (S32 * S)) * a.segment(l0, width2).transpose();
  }
  if (!dx) return;
  // da_lm/dr_j = (w'_j r̂_j (Y_lm(j) - a_lm) + w_j ∇Y_lm(j)) / Σw
  Eigen::Matrix<double, 3, Eigen::Dynamic> da(3, nlm);
  for (int j = 0; j < n; ++j) {
    const Eigen::Vector3d u = env.rij[j] / env.r[j];
    const double* Yj = Yall.data() + static_cast<size_t>(j) * nlm;
    const double* dYj = dYall.data() + 3 * static_cast<size_t>(j) * nlm;
    for (int lm = 0; lm < nlm; ++lm)
      for (int c = 0; c < 3; ++c) da(c, lm) = (dw[j] * u[c] * (Yj[lm] - a[lm]) + w[j] * dYj[3 * lm + c]) / wsum;
    dx->middleRows(3 * j, 3) = da * dxda.transpose();
  }
}

}  // namespace soapgap
