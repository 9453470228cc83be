#include "soapgap/bispectrum.hpp"

#include <complex>
#include <map>
#include <sstream>
#include <tuple>

#include "soapgap/cutoff.hpp"
#include "soapgap/error.hpp"
#include "soapgap/wigner.hpp"

namespace soapgap {

const std::vector<std::string>& bispectrum_keys() {
  static const std::vector<std::string> keys = [] {
    std::vector<std::string> k = centred_descriptor_keys();
    for (const char* s : {"n_max", "l_max", "atom_sigma", "atom_gaussian_width", "basis_error_exponent", "diagonal_radial"})
      k.push_back(s);
    return k;
  }();
  return keys;
}

Bispectrum::Bispectrum(const Options& o)
    : Bispectrum(o, SoapParams::radial_only(o, "bispectrum", 4, 4, kMaxBispectrumL)) {}

Bispectrum::Bispectrum(const Options& o, const SoapParams& radial)
    : CentredDescriptor(o, 0.5, true),
      n_max_(radial.n_max),
      l_max_(radial.l_max),
      diagonal_(o.get_bool({"diagonal_radial"}, false)),
      radial_(radial),
      sph_(radial.l_max) {
  const int K = n_channels() * n_max_;
  // every (l1 <= l2, l) with the triangle rule and even l1 + l2 + l, then the radial channels
  auto each_triple = [&](auto&& f) {
    for (int l = 0; l <= l_max_; ++l)
      for (int l1 = 0; l1 <= l_max_; ++l1)
        for (int l2 = l1; l2 <= l_max_; ++l2)
          if (l >= l2 - l1 && l <= l1 + l2 && (l1 + l2 + l) % 2 == 0) f(l1, l2, l);
  };
  long long count = 0;  // counted before anything is allocated
  each_triple([&](int l1, int l2, int) {
    const long long k = K;
    count += diagonal_ ? k : (l1 == l2 ? k * (k + 1) / 2 : k * k) * k;
  });
  if (count > 2'000'000)
    throw Error(o.context() + ": the bispectrum would have " + std::to_string(count) +
                " components; lower n_max, l_max or the species, or set diagonal_radial=T");
  std::map<std::tuple<int, int, int>, int> tables;
  each_triple([&](int l1, int l2, int l) {
    auto [it, fresh] = tables.try_emplace({l1, l2, l}, static_cast<int>(cg_.size()));
    if (fresh)
      for (int m1 = -l1; m1 <= l1; ++m1)
        for (int m2 = -l2; m2 <= l2; ++m2)
          cg_.push_back(std::abs(m1 + m2) <= l ? clebsch_gordan(l1, m1, l2, m2, l, m1 + m2) : 0.0);
    for (int k1 = 0; k1 < K; ++k1)
      for (int k2 = (l1 == l2 ? k1 : 0); k2 < K; ++k2)
        for (int k = 0; k < K; ++k)
          if (!diagonal_ || (k1 == k2 && k2 == k)) index_.push_back({k1, l1, k2, l2, k, l, it->second});
  });
}

std::string Bispectrum::to_string() const {
  std::ostringstream o;
  o.precision(17);
  o << "bispectrum " << common_options() << " n_max=" << n_max_ << " l_max=" << l_max_
    << " atom_sigma=" << radial_.params().atom_sigma << " basis_error_exponent=" << radial_.params().basis_error_exponent
    << " diagonal_radial=" << (diagonal_ ? "T" : "F");
  return o.str();
}

void Bispectrum::evaluate(const CentredEnvironment& env, double* x, RowMatrixXd* dx) const {
  using cd = std::complex<double>;
  const int N = n_max_, L = l_max_, nlm = (L + 1) * (L + 1), K = n_channels() * N, n = env.size();
  const size_t nc = static_cast<size_t>(L + 1) * N;
  // density coefficients a[k][lm] in the real harmonics; each neighbour's terms kept for the gradient
  std::vector<double> c(n * nc), dc(dx ? n * nc : 0), Y(static_cast<size_t>(n) * nlm), dY(dx ? 3 * static_cast<size_t>(n) * nlm : 0);
  std::vector<CutoffValue> fc(n);
  RowMatrixXd a = RowMatrixXd::Zero(K, nlm);
  for (int j = 0; j < n; ++j) {
    fc[j] = cosine_cutoff(env.r[j], cutoff(), width());
    radial_.radial(env.r[j], &c[j * nc], dx ? &dc[j * nc] : nullptr);  // dc/dr only for gradients
    sph_.compute(env.rij[j].data(), &Y[static_cast<size_t>(j) * nlm], dx ? &dY[3 * static_cast<size_t>(j) * nlm] : nullptr);
    for (int nn = 0; nn < N; ++nn)
      for (int l = 0; l <= L; ++l) {
        const double w = fc[j].f * c[j * nc + l * N + nn];
        for (int lm = l * l; lm < (l + 1) * (l + 1); ++lm) a(env.channel[j] * N + nn, lm) += w * Y[static_cast<size_t>(j) * nlm + lm];
      }
  }
  std::vector<cd> C(static_cast<size_t>(K) * nlm);
  for (int k = 0; k < K; ++k)
    for (int l = 0; l <= L; ++l) real_to_complex(l, &a(k, l * l), &C[static_cast<size_t>(k) * nlm + l * l]);
  auto coef = [&](int k, int l, int m) { return C[static_cast<size_t>(k) * nlm + l * l + l + m]; };

  // B and, with gradients, dB/da through the Wirtinger derivatives of each of its three factors
  RowMatrixXd dxda = dx ? RowMatrixXd::Zero(dimension(), static_cast<Eigen::Index>(K) * nlm) : RowMatrixXd();
  std::vector<cd> P1(2 * L + 1), P2(2 * L + 1), Q(2 * L + 1), zero(2 * L + 1, 0.0);
  for (int o = 0; o < dimension(); ++o) {
    const Invariant& v = index_[o];
    if (dx) {
      std::fill(P1.begin(), P1.end(), 0.0);
      std::fill(P2.begin(), P2.end(), 0.0);
      std::fill(Q.begin(), Q.end(), 0.0);
    }
    cd F = 0.0;
    const double* g = &cg_[v.cg];
    for (int m1 = -v.l1; m1 <= v.l1; ++m1)
      for (int m2 = -v.l2; m2 <= v.l2; ++m2, ++g) {
        const int m = m1 + m2;
        if (std::abs(m) > v.l) continue;
        const cd c1 = coef(v.k1, v.l1, m1), c2 = coef(v.k2, v.l2, m2), c3 = std::conj(coef(v.k, v.l, m));
        F += *g * c3 * c1 * c2;
        if (!dx) continue;
        P1[m1 + v.l1] += *g * c3 * c2;
        P2[m2 + v.l2] += *g * c3 * c1;
        Q[m + v.l] += *g * c1 * c2;
      }
    x[o] = F.real();
    if (!dx) continue;
    double* row = dxda.row(o).data();
    complex_to_real_gradient(v.l1, P1.data(), zero.data(), row + v.k1 * nlm + v.l1 * v.l1);
    complex_to_real_gradient(v.l2, P2.data(), zero.data(), row + v.k2 * nlm + v.l2 * v.l2);
    complex_to_real_gradient(v.l, zero.data(), Q.data(), row + v.k * nlm + v.l * v.l);
  }
  if (!dx) return;
  // da[n][lm]/dr_j = ((f_c c_nl)' r̂_j Y_lm + f_c c_nl ∇Y_lm) for the neighbour's own channel; the
  // neighbours of one channel are stacked so that dx/dr = da/dr (dB/da)ᵀ is one matrix product
  for (int ch = 0; ch < n_channels(); ++ch) {
    std::vector<int> js;
    for (int j = 0; j < n; ++j)
      if (env.channel[j] == ch) js.push_back(j);
    if (js.empty()) continue;
    RowMatrixXd da(3 * js.size(), static_cast<Eigen::Index>(N) * nlm);
    for (size_t q = 0; q < js.size(); ++q) {
      const int j = js[q];
      const Eigen::Vector3d u = env.rij[j] / env.r[j];
      for (int nn = 0; nn < N; ++nn)
        for (int l = 0; l <= L; ++l) {
          const double w = fc[j].f * c[j * nc + l * N + nn];
          const double dw = fc[j].df * c[j * nc + l * N + nn] + fc[j].f * dc[j * nc + l * N + nn];
          for (int lm = l * l; lm < (l + 1) * (l + 1); ++lm) {
            const double y = Y[static_cast<size_t>(j) * nlm + lm];
            const double* dy = &dY[3 * (static_cast<size_t>(j) * nlm + lm)];
            for (int d = 0; d < 3; ++d) da(3 * q + d, nn * nlm + lm) = dw * u[d] * y + w * dy[d];
          }
        }
    }
    const RowMatrixXd block = da * dxda.middleCols(static_cast<Eigen::Index>(ch) * N * nlm, N * nlm).transpose();
    for (size_t q = 0; q < js.size(); ++q) dx->middleRows(3 * js[q], 3) = block.middleRows(3 * q, 3);
  }
}

}  // namespace soapgap
