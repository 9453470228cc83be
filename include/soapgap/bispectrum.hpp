// The SOAP bispectrum (A. P. Bartók, R. Kondor, G. Csányi, Phys. Rev. B 87, 184115 (2013), eq. 26):
// the neighbour density ρ(r) = Σ_j f_c(r_j) exp(-|r - r_j|²/(2 σ²)) expanded as in SOAP,
// c_{k l m} = Σ_j f_c(r_j) c_{n l}(r_j) Y_lm(r̂_j) (k = species channel × n_max + n, SOAP's radial
// functions, complex harmonics), and its rotational invariants of third order
//   B_{k1 k2 k, l1 l2 l} = Re Σ_{m1 m2} c*_{k l m1+m2} <l1 m1 l2 m2 | l m1+m2> c_{k1 l1 m1} c_{k2 l2 m2}
// for l1 <= l2, |l1 - l2| <= l <= min(l1 + l2, l_max) and l1 + l2 + l even (the odd ones change
// sign under reflection); k1 <= k2 where l1 = l2 (the swap is the same invariant); every k.
// diagonal_radial=T keeps k1 = k2 = k only. The centre atom is not part of the density.
// Normalised to unit length by default (normalise=T, a dot-product kernel as for SOAP).
// Layout: for l, then l1, then l2, then (k1, k2, k) with k fastest.
#pragma once
#include "soapgap/centred_descriptor.hpp"
#include "soapgap/soap.hpp"

namespace soapgap {

class Bispectrum final : public CentredDescriptor {
 public:
  explicit Bispectrum(const Options& o);
  std::string kind() const override { return "bispectrum"; }
  int dimension() const override { return static_cast<int>(index_.size()); }
  std::string to_string() const override;

 private:
  struct Invariant {
    int k1, l1, k2, l2, k, l;
    int cg;  // offset of its Clebsch-Gordan table <l1 m1 l2 m2 | l m1+m2>, (2 l1 + 1)(2 l2 + 1) entries
  };
  Bispectrum(const Options& o, const SoapParams& radial);
  int n_max_, l_max_;
  bool diagonal_;
  Soap radial_;  // SOAP's radial functions c_nl(r)
  SphericalHarmonics sph_;
  std::vector<Invariant> index_;
  std::vector<double> cg_;
  void evaluate(const CentredEnvironment& env, double* x, RowMatrixXd* dx) const override;
};

inline constexpr int kMaxBispectrumL = 12;
const std::vector<std::string>& bispectrum_keys();

}  // namespace soapgap
