#include "soapgap/angular_dnl.hpp"

#include <sstream>

#include "soapgap/cutoff.hpp"
#include "soapgap/error.hpp"

namespace soapgap {

const std::vector<std::string>& angular_dnl_keys() {
  static const std::vector<std::string> keys = [] {
    std::vector<std::string> k = centred_descriptor_keys();
    for (const char* s : {"n_max", "l_max", "atom_sigma", "atom_gaussian_width", "basis_error_exponent"}) k.push_back(s);
    return k;
  }();
  return keys;
}

namespace {
// SOAP's radial functions for l = 0 only (l_max here is the order of cos(lθ), checked first)
SoapParams radial_params(const Options& o) {
  SoapParams p = SoapParams::radial_only(o, "angular_dnl", 8, 8, kMaxDnlL);
  p.l_max = 0;
  return p;
}
}  // namespace

AngularDnl::AngularDnl(const Options& o) : AngularDnl(o, radial_params(o)) {}

AngularDnl::AngularDnl(const Options& o, const SoapParams& radial)
    : CentredDescriptor(o, 0.5), l_max_(o.get_int({"l_max"}, 8)), radial_(radial), n_max_(radial.n_max) {
  const long long dim = static_cast<long long>(n_pairs()) * n_max_ * (l_max_ + 1);
  if (dim > 10'000'000)
    throw Error(o.context() + ": angular_dnl would have " + std::to_string(dim) + " components (species pairs x n_max x (l_max+1))");
}

std::string AngularDnl::to_string() const {
  std::ostringstream o;
  o.precision(17);
  o << "angular_dnl " << common_options() << " n_max=" << n_max_ << " l_max=" << l_max_
    << " atom_sigma=" << radial_.params().atom_sigma << " basis_error_exponent=" << radial_.params().basis_error_exponent;
  return o.str();
}

void AngularDnl::evaluate(const CentredEnvironment& env, double* x, RowMatrixXd* dx) const {
  const int n = env.size(), N = n_max_, L = l_max_, block = N * (L + 1);
  // g_n(r_j) f_c(r_j) and its r-derivative, per neighbour
  RowMatrixXd g(n, N), dg(n, N);
  std::vector<double> c(N), dc(N);
  for (int j = 0; j < n; ++j) {
    const CutoffValue fc = cosine_cutoff(env.r[j], cutoff(), width());
    radial_.radial(env.r[j], c.data(), dx ? dc.data() : nullptr);
    for (int k = 0; k < N; ++k) {
      g(j, k) = c[k] * fc.f;
      if (dx) dg(j, k) = dc[k] * fc.f + c[k] * fc.df;
    }
  }
  std::vector<double> T(L + 1), dT(L + 1);
  for (int j = 0; j < n; ++j) {
    const Eigen::Vector3d uj = env.rij[j] / env.r[j];
    for (int k = j; k < n; ++k) {
      // the unordered pair stands for (j,k) and (k,j)
      const double weight = j == k ? 1.0 : 2.0;
      const Eigen::Vector3d uk = env.rij[k] / env.r[k];
      const double cos = j == k ? 1.0 : std::clamp(uj.dot(uk), -1.0, 1.0);
      // Chebyshev T_l(cos) and dT_l/dcos = l U_{l-1}(cos)
      double u_prev = 0.0, u_cur = 1.0;  // U_{-1}, U_0
      T[0] = 1.0;
      dT[0] = 0.0;
      if (L >= 1) {
        T[1] = cos;
        dT[1] = 1.0;
      }
      for (int l = 2; l <= L; ++l) {
        const double u_next = 2.0 * cos * u_cur - u_prev;  // U_{l-1}
        u_prev = u_cur;
        u_cur = u_next;
        T[l] = 2.0 * cos * T[l - 1] - T[l - 2];
        dT[l] = l * u_cur;
      }
      double* xp = x + pair_index(env.channel[j], env.channel[k]) * block;
      const int col0 = pair_index(env.channel[j], env.channel[k]) * block;
      const Eigen::Vector3d dcos_j = (uk - cos * uj) / env.r[j], dcos_k = (uj - cos * uk) / env.r[k];
      for (int a = 0; a < N; ++a) {
        const double gg = weight * g(j, a) * g(k, a);
        for (int l = 0; l <= L; ++l) xp[a * (L + 1) + l] += gg * T[l];
        if (!dx) continue;
        if (j == k) {  // d/dr_j of g_a(r_j)²
          const Eigen::Vector3d d = 2.0 * g(j, a) * dg(j, a) * uj;
          for (int l = 0; l <= L; ++l) dx->block<3, 1>(3 * j, col0 + a * (L + 1) + l) += d;
          continue;
        }
        const double wj = weight * dg(j, a) * g(k, a), wk = weight * g(j, a) * dg(k, a);
        for (int l = 0; l <= L; ++l) {
          const int col = col0 + a * (L + 1) + l;
          dx->block<3, 1>(3 * j, col) += wj * T[l] * uj + gg * dT[l] * dcos_j;
          dx->block<3, 1>(3 * k, col) += wk * T[l] * uk + gg * dT[l] * dcos_k;
        }
      }
    }
  }
}

}  // namespace soapgap
