#include "soapgap/bessel.hpp"

#include <algorithm>
#include <cmath>

namespace soapgap {

ScaledBesselI::ScaledBesselI(int count) : count_(count) {}

void ScaledBesselI::compute(double alpha, double r, double ra, double* g) const {
  const int n = count_;
  if (n == 0) return;
  const double x = 2.0 * alpha * r * ra;
  if (x > n * n / 7.0 && x > n) {
    const double em = std::exp(-alpha * (r - ra) * (r - ra)), ep = std::exp(-alpha * (r + ra) * (r + ra));
    double prev2 = 0.5 * (em + ep) / x;  // i_{-1}
    double prev1 = g[0] = 0.5 * (em - ep) / x;
    for (int l = 1; l < n; ++l) {
      g[l] = prev2 - (2 * l - 1) / x * prev1;
      prev2 = prev1;
      prev1 = g[l];
    }
  } else if (x < 1.0) {
    const double h = 0.5 * x * x;
    double lead = std::exp(-alpha * (r * r + ra * ra));  // e^{-α(r²+r_a²)} x^l/(2l+1)!!
    for (int l = 0; l < n; ++l) {
      if (l > 0) lead *= x / (2 * l + 1);
      double sum = 1.0, t = 1.0;
      for (int k = 1; k < 100; ++k) {
        t *= h / (k * (2.0 * l + 2 * k + 1));
        sum += t;
        if (t < 1e-17 * sum) break;
      }
      g[l] = lead * sum;
    }
  } else {
    // Miller's algorithm: recur downward from an arbitrary start at order N above the orders
    // wanted (the start's error decays like Π (i_{l+1}/i_l)², measured to be below 1e-15 with
    // N = count + 12 + 4√x up to l = 51, x = 386), then normalise by the closed form
    // ĩ_0 = e^{-x} i_0(x) = (1 - e^{-2x})/(2x), ĩ_l = e^{-x} i_l(x).
    // g_l = ĩ_l e^{x - α(r² + r_a²)} = ĩ_l e^{-α(r - r_a)²}.
    const int top = n + 12 + static_cast<int>(4.0 * std::sqrt(x));
    const double inv_x = 1.0 / x;
    double above = 0.0, here = 1e-250;
    for (int l = top; l > 0; --l) {
      const double below = above + (2 * l + 1) * inv_x * here;
      above = here;
      here = below;
      if (l <= n) g[l - 1] = here;
      if (here > 1e250) {  // keep the unnormalised values in range
        here *= 1e-250;
        above *= 1e-250;
        for (int k = std::min(l, n + 1) - 1; k < n; ++k) g[k] *= 1e-250;  // those stored so far
      }
    }
    const double scale = -std::expm1(-2.0 * x) * 0.5 * inv_x / g[0] * std::exp(-alpha * (r - ra) * (r - ra));
    for (int l = 0; l < n; ++l) g[l] *= scale;
  }
}

}  // namespace soapgap
