// Steinhardt bond-orientational order parameters (P. J. Steinhardt, D. R. Nelson, M. Ronchetti,
// Phys. Rev. B 28, 784 (1983)) of the neighbours within the cutoff, weighted by the cutoff
// function so that they are differentiable:
//   q_lm = Σ_j f_c(r_j) Y_lm(r̂_j) / Σ_j f_c(r_j)
//   Q_l  = sqrt(4π/(2l+1) Σ_m |q_lm|²)                                   l = 1..l_max
//   Ŵ_l  = Σ_{m1+m2+m3=0} (l l l; m1 m2 m3) q_lm1 q_lm2 q_lm3 / (Σ_m |q_lm|²)^{3/2}    even l = 2..l_max
// (W_l vanishes for odd l). With every neighbour inside cutoff - cutoff_transition_width and the
// next shell beyond the cutoff, these are the textbook values (fcc Q_6 = 0.57452, Ŵ_6 = -0.013161).
// Ŵ_l is undefined where Q_l = 0 (Q_4 of an icosahedron); it is set to 0 there.
// Neighbours of every species in species_Z (or of all species) form one density.
// Layout: Q_1..Q_lmax, then Ŵ_2, Ŵ_4, .. (w=T, the default).
#pragma once
#include <complex>

#include "soapgap/centred_descriptor.hpp"
#include "soapgap/spherical_harmonics.hpp"

namespace soapgap {

class Steinhardt final : public CentredDescriptor {
 public:
  explicit Steinhardt(const Options& o);
  std::string kind() const override { return "steinhardt"; }
  int dimension() const override { return l_max_ + (with_w_ ? l_max_ / 2 : 0); }
  std::string to_string() const override;

 private:
  int l_max_;
  bool with_w_;
  SphericalHarmonics sph_;
  std::vector<std::vector<double>> three_j_;  // per even l: (l l l; m1 m2 -m1-m2) at [(m1+l)(2l+1) + m2+l]
  void evaluate(const CentredEnvironment& env, double* x, RowMatrixXd* dx) const override;
};

inline constexpr int kMaxSteinhardtL = 20;
const std::vector<std::string>& steinhardt_keys();

}  // namespace soapgap
