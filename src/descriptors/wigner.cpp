#include "soapgap/wigner.hpp"

#include <algorithm>
#include <cmath>
#include <cstdlib>

namespace soapgap {

namespace {
double log_factorial(int n) { return std::lgamma(n + 1.0); }
}  // namespace

double wigner_3j(int j1, int j2, int j3, int m1, int m2, int m3) {
  if (m1 + m2 + m3 != 0) return 0.0;
  if (std::abs(m1) > j1 || std::abs(m2) > j2 || std::abs(m3) > j3) return 0.0;
  if (j3 < std::abs(j1 - j2) || j3 > j1 + j2) return 0.0;
  // triangle coefficient and the square root of the factorials of j ± m
  const double log_pref =
      0.5 * (log_factorial(j1 + j2 - j3) + log_factorial(j1 - j2 + j3) + log_factorial(-j1 + j2 + j3) -
             log_factorial(j1 + j2 + j3 + 1) + log_factorial(j1 + m1) + log_factorial(j1 - m1) +
             log_factorial(j2 + m2) + log_factorial(j2 - m2) + log_factorial(j3 + m3) + log_factorial(j3 - m3));
  const int k_min = std::max({0, j2 - j3 - m1, j1 - j3 + m2});
  const int k_max = std::min({j1 + j2 - j3, j1 - m1, j2 + m2});
  double sum = 0.0;
  for (int k = k_min; k <= k_max; ++k) {
    const double log_term = log_factorial(k) + log_factorial(j1 + j2 - j3 - k) + log_factorial(j1 - m1 - k) +
                            log_factorial(j2 + m2 - k) + log_factorial(j3 - j2 + m1 + k) +
                            log_factorial(j3 - j1 - m2 + k);
    sum += (k % 2 ? -1.0 : 1.0) * std::exp(log_pref - log_term);
  }
  return ((j1 - j2 - m3) % 2 ? -1.0 : 1.0) * sum;
}

double clebsch_gordan(int j1, int m1, int j2, int m2, int J, int M) {
  const int phase = j1 - j2 + M;
  return (phase % 2 ? -1.0 : 1.0) * std::sqrt(2.0 * J + 1.0) * wigner_3j(j1, j2, J, m1, m2, -M);
}

}  // namespace soapgap
