// Behler-Parrinello atom-centred symmetry functions (J. Behler, J. Chem. Phys. 134, 074106
// (2011)), in DScribe's convention (dscribe ACSF 2.x) so the values agree with it:
//   G2_ab = Σ_{j∈b} exp(-η (r_ij - R_s)²) f_c(r_ij)                         per neighbour species b
//   G4    = 2^{1-ζ} Σ_{j<k} (1 + λ cos θ_ijk)^ζ exp(-η (r_ij² + r_ik² + r_jk²)) f_c(r_ij) f_c(r_ik) f_c(r_jk)
//   G5    = 2^{1-ζ} Σ_{j<k} (1 + λ cos θ_ijk)^ζ exp(-η (r_ij² + r_ik²))        f_c(r_ij) f_c(r_ik)
// the angular ones per unordered pair of neighbour species {b, c}, each unordered pair of
// neighbours counted once. f_c = (cos(π r / r_c) + 1)/2 (cutoff_transition_width = cutoff, the
// default) or QUIP's cosine switch over a narrower width. DScribe's G1 = Σ f_c is G2 with η = 0.
// Layout (DScribe's): G2 [channel][function], then per species pair its G4 and then its G5 functions.
#pragma once
#include "soapgap/centred_descriptor.hpp"
#include "soapgap/cutoff.hpp"

namespace soapgap {

class Behler final : public CentredDescriptor {
 public:
  explicit Behler(const Options& o);
  std::string kind() const override { return "behler"; }
  int dimension() const override { return dim_; }
  std::string to_string() const override;

 private:
  struct Angular {
    double eta, zeta, lambda;
    bool integer_zeta;  // powers by multiplication
  };
  std::vector<double> g2_eta_, g2_rs_;
  std::vector<Angular> g4_, g5_;
  int dim_;
  void evaluate(const CentredEnvironment& env, double* x, RowMatrixXd* dx) const override;
  void add_angular(const CentredEnvironment& env, const std::vector<CutoffValue>& fcs,
                   const std::vector<Angular>& fs, bool with_jk, int offset,
                   int pair_stride, double* x, RowMatrixXd* dx) const;
};

const std::vector<std::string>& behler_keys();

}  // namespace soapgap
