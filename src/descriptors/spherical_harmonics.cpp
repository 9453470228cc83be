#include "soapgap/spherical_harmonics.hpp"

#include <cmath>
#include <numbers>

namespace soapgap {

SphericalHarmonics::SphericalHarmonics(int l_max) : l_max_(l_max), norm_((l_max + 1) * (l_max + 2) / 2) {
  for (int l = 0; l <= l_max; ++l)
    for (int m = 0; m <= l; ++m) {
      double ratio = 1.0;  // (l-m)!/(l+m)!
      for (int k = l - m + 1; k <= l + m; ++k) ratio /= k;
      double n = std::sqrt((2 * l + 1) / (4.0 * std::numbers::pi) * ratio);
      if (m > 0) n *= std::sqrt(2.0);
      norm_[l * (l + 1) / 2 + m] = n;
    }
}

void SphericalHarmonics::compute(const double r[3], double* Y, double* dY) const {
  const int L = l_max_;
  const double rr = std::sqrt(r[0] * r[0] + r[1] * r[1] + r[2] * r[2]);
  const double x = r[0] / rr, y = r[1] / rr, z = r[2] / rr;
  // C_m + i S_m = (x + i y)^m
  thread_local std::vector<double> C, S, Q, Qz, Qu;
  C.resize(L + 1);
  S.resize(L + 1);
  const int nq = (L + 1) * (L + 2) / 2;
  Q.resize(nq);
  Qz.resize(nq);
  Qu.resize(nq);
  C[0] = 1.0;
  S[0] = 0.0;
  for (int m = 1; m <= L; ++m) {
    C[m] = x * C[m - 1] - y * S[m - 1];
    S[m] = x * S[m - 1] + y * C[m - 1];
  }
  // Q_l^m(z, u) polynomials (u = r^2 = 1 on the unit sphere) and their partial derivatives.
  auto q = [](int l, int m) { return l * (l + 1) / 2 + m; };
  const double u = 1.0;
  double dfact = 1.0;  // (2m-1)!!
  for (int m = 0; m <= L; ++m) {
    if (m > 0) dfact *= (2 * m - 1);
    Q[q(m, m)] = dfact;
    Qz[q(m, m)] = 0.0;
    Qu[q(m, m)] = 0.0;
    if (m + 1 <= L) {
      Q[q(m + 1, m)] = (2 * m + 1) * z * dfact;
      Qz[q(m + 1, m)] = (2 * m + 1) * dfact;
      Qu[q(m + 1, m)] = 0.0;
    }
    for (int l = m + 2; l <= L; ++l) {
      const double a = 2 * l - 1, b = l + m - 1, inv = 1.0 / (l - m);
      const int i1 = q(l - 1, m), i2 = q(l - 2, m);
      Q[q(l, m)] = (a * z * Q[i1] - b * u * Q[i2]) * inv;
      Qz[q(l, m)] = (a * (Q[i1] + z * Qz[i1]) - b * u * Qz[i2]) * inv;
      Qu[q(l, m)] = (a * z * Qu[i1] - b * (Q[i2] + u * Qu[i2])) * inv;
    }
  }
  for (int l = 0; l <= L; ++l) {
    for (int m = 0; m <= l; ++m) {
      const double N = norm_[q(l, m)];
      const double Ql = Q[q(l, m)];
      const int ip = l * l + l + m, im = l * l + l - m;
      Y[ip] = N * Ql * C[m];
      if (m > 0) Y[im] = N * Ql * S[m];
      if (!dY) continue;
      const double qu = Qu[q(l, m)], qz = Qz[q(l, m)];
      // gradient of the solid harmonic with respect to the unit-vector components
      double gc[3] = {N * (2 * x * qu * C[m] + (m > 0 ? Ql * m * C[m - 1] : 0.0)),
                      N * (2 * y * qu * C[m] - (m > 0 ? Ql * m * S[m - 1] : 0.0)),
                      N * (qz + 2 * z * qu) * C[m]};
      const double n[3] = {x, y, z};
      for (int k = 0; k < 3; ++k) dY[3 * ip + k] = (gc[k] - l * Y[ip] * n[k]) / rr;
      if (m > 0) {
        double gs[3] = {N * (2 * x * qu * S[m] + Ql * m * S[m - 1]), N * (2 * y * qu * S[m] + Ql * m * C[m - 1]),
                        N * (qz + 2 * z * qu) * S[m]};
        for (int k = 0; k < 3; ++k) dY[3 * im + k] = (gs[k] - l * Y[im] * n[k]) / rr;
      }
    }
  }
}

void real_to_complex(int l, const double* a, std::complex<double>* c) {
  const double s = std::sqrt(0.5);
  c[l] = a[l];
  for (int m = 1; m <= l; ++m) {
    const std::complex<double> z = s * std::complex<double>(a[l + m], a[l - m]);
    c[l + m] = (m % 2 ? -1.0 : 1.0) * z;
    c[l - m] = std::conj(z);
  }
}

void complex_to_real_gradient(int l, const std::complex<double>* P, const std::complex<double>* Q, double* out) {
  // dF/da_μ = Σ_m P_m ∂c_m/∂a_μ + Q_m ∂c*_m/∂a_μ with the linear map of real_to_complex
  const double s = std::sqrt(0.5);
  const std::complex<double> i(0.0, 1.0);
  out[l] += (P[l] + Q[l]).real();
  for (int m = 1; m <= l; ++m) {
    const double sign = m % 2 ? -1.0 : 1.0;
    const std::complex<double> pp = P[l + m], qp = Q[l + m], pm = P[l - m], qm = Q[l - m];
    out[l + m] += s * (sign * (pp + qp) + pm + qm).real();
    out[l - m] += s * (sign * i * (pp - qp) - i * (pm - qm)).real();
  }
}

}  // namespace soapgap
