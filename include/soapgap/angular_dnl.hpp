// The angular descriptor d_nl (A. P. Bartók, R. Kondor, G. Csányi, Phys. Rev. B 87, 184115
// (2013), the "angular Fourier series"): per radial function n and angular order l
//   d_nl = Σ_{j,k} g_n(r_ij) g_n(r_ik) cos(l θ_jik)     (j = k included; cos(lθ) = T_l(cos θ))
// with g_n the radial functions of SOAP (its l = 0 radial channel for the same n_max,
// atom_sigma, cutoff and basis_error_exponent) times the cutoff function. With species channels
// a pair (j, k) goes to the block of its unordered species pair, so the blocks sum to the
// species-blind value. Layout: [species pair][n][l], l = 0..l_max.
#pragma once
#include "soapgap/centred_descriptor.hpp"
#include "soapgap/soap.hpp"

namespace soapgap {

class AngularDnl final : public CentredDescriptor {
 public:
  explicit AngularDnl(const Options& o);
  std::string kind() const override { return "angular_dnl"; }
  int dimension() const override { return n_pairs() * n_max_ * (l_max_ + 1); }
  std::string to_string() const override;

 private:
  AngularDnl(const Options& o, const SoapParams& radial);
  int l_max_;
  Soap radial_;  // its l = 0 radial functions
  int n_max_;
  void evaluate(const CentredEnvironment& env, double* x, RowMatrixXd* dx) const override;
};

inline constexpr int kMaxDnlL = 64;
const std::vector<std::string>& angular_dnl_keys();

}  // namespace soapgap
