#include "soapgap/bessel.hpp"

#include <cmath>

namespace soapgap {

ScaledBesselI::ScaledBesselI(int count) : count_(count), log_double_factorial_(count + 1, 0.0) {
  for (int l = 1; l <= count; ++l) log_double_factorial_[l] = log_double_factorial_[l - 1] + std::log(2.0 * l + 1);
}

// i_l(x) = x^l/(2l+1)!! Σ_k t_k, t_k = t_{k-1} (x²/2)/(k (2l+2k+1)), t_0 = 1: positive terms, no
// cancellation; the sum is rescaled as it grows so large x cannot overflow.
double ScaledBesselI::log_i(double x, int l) const {
  const double h = 0.5 * x * x;
  double sum = 1.0, t = 1.0, shift = 0.0;
  for (int k = 1; k < 1000000; ++k) {
    t *= h / (k * (2.0 * l + 2 * k + 1));
    sum += t;
    if (sum > 1e250) {
      sum *= 1e-250;
      t *= 1e-250;
      shift += 250 * std::log(10.0);
    }
    if (t < 1e-17 * sum) break;
  }
  return l * std::log(x) - log_double_factorial_[l] + std::log(sum) + shift;
}

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
    // ĩ_l = e^{-x} i_l(x) stays in range; g_l = ĩ_l e^{x - α(r² + r_a²)} = ĩ_l e^{-α(r - r_a)²}
    const double f = std::exp(-alpha * (r - ra) * (r - ra));
    double above = std::exp(log_i(x, n) - x), here = std::exp(log_i(x, n - 1) - x);
    g[n - 1] = here * f;
    for (int l = n - 1; l > 0; --l) {
      const double below = above + (2 * l + 1) / x * here;
      above = here;
      here = below;
      g[l - 1] = here * f;
    }
  }
}

}  // namespace soapgap
