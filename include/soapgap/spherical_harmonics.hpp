// Real orthonormal spherical harmonics Y_lm(r̂) and their gradients with respect to r.
// Index lm = l*l + l + m, m = -l..l. Built from solid harmonics R_lm = |r|^l Y_lm, which are
// polynomials in x, y, z (Q_l^m(z, r^2) * Re/Im (x + i y)^m); the gradient follows from
// grad Y = (grad_n R - l R n) / |r| for homogeneous R of degree l.
#pragma once
#include <complex>
#include <vector>

namespace soapgap {

class SphericalHarmonics {
 public:
  explicit SphericalHarmonics(int l_max);
  int l_max() const { return l_max_; }
  int size() const { return (l_max_ + 1) * (l_max_ + 1); }
  // r: vector (not necessarily unit, |r| > 0). Y has size() entries; dY (optional) has
  // 3*size() entries ordered [lm][xyz].
  void compute(const double r[3], double* Y, double* dY) const;

 private:
  int l_max_;
  std::vector<double> norm_;  // N_lm for m >= 0, index l*(l+1)/2 + m
  // per-call scratch is on the stack of compute() via thread-local buffers
};

// Coefficients in the complex harmonics (Condon-Shortley phase) of a function whose coefficients in
// the real harmonics above are a_lm, for one l: c_m = (-1)^m (a_m + i a_{-m})/√2 and
// c_{-m} = (a_m - i a_{-m})/√2 for m > 0, c_0 = a_0. a and c hold m = -l..l.
void real_to_complex(int l, const double* a, std::complex<double>* c);
// The gradient by a_lm of Re F(c, c*), given the Wirtinger derivatives P_m = ∂F/∂c_m and
// Q_m = ∂F/∂c*_m (c and c* taken as independent); out gets m = -l..l (added to, not set).
void complex_to_real_gradient(int l, const std::complex<double>* P, const std::complex<double>* Q, double* out);

}  // namespace soapgap
