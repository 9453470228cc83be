// Exponentially scaled modified spherical Bessel functions of the first kind, as they enter the
// radial integrals of SOAP's Gaussian basis (QUIP soap_calc, reference/QUIP-GAP-conventions.md §2.2):
//   g_l = exp(-α(r² + r_a²)) i_l(2α r r_a),   l = 0 .. count-1.
// Three regimes keep every l accurate (relative error ~1e-12 up to l = 51, tested against
// 40-digit values in tests/python/test_bessel.py):
//   x < 1            the positive power series of each i_l;
//   1 <= x <= l²/7   Miller's downward recursion i_{l-1} = i_{l+1} + (2l+1)/x i_l from an order
//                    above l (stable: i_l is the minimal solution), normalised by i_0;
//   x > l²/7, x > l  QUIP's upward recursion from i_0, i_{-1} with the exponential folded in;
//                    its error grows like exp(l²/x), so only where that stays below e⁷ ≈ 1e3.
// (x = 2α r r_a.) Upward recursion alone, as QUIP does for every x, loses ~e^l of accuracy
// when x is close to l: 1e-8 relative at l = 20, everything at l = 50.
#pragma once
#include <vector>

namespace soapgap {

class ScaledBesselI {
 public:
  explicit ScaledBesselI(int count);  // orders 0 .. count-1
  int count() const { return count_; }
  void compute(double alpha, double r, double ra, double* g) const;

 private:
  int count_;
};

}  // namespace soapgap
