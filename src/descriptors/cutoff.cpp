#include "soapgap/cutoff.hpp"

#include <cmath>
#include <numbers>

namespace soapgap {

CutoffValue cosine_cutoff(double r, double cutoff, double width) {
  if (r > cutoff) return {0.0, 0.0};
  if (width <= 0.0 || r <= cutoff - width) return {1.0, 0.0};
  const double x = std::numbers::pi * (r - cutoff + width) / width;
  return {0.5 * (std::cos(x) + 1.0), -0.5 * std::numbers::pi * std::sin(x) / width};
}

}  // namespace soapgap
