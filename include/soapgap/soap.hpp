// SOAP power spectrum exactly as QUIP/GAP computes it (descriptors.F90, radial_basis
// EQUISPACED_GAUSS): Gaussian radial basis of width atom_sigma on an equispaced grid up to
// cutoff + atom_sigma*sqrt(2*basis_error_exponent*ln 10), orthonormalised by the Cholesky factor
// of its overlap; density projected with modified spherical Bessel functions; cosine cutoff;
// P_l scaled by 1/sqrt(2l+1); off-diagonal channel pairs times sqrt(2); l fastest in the layout;
// one trailing element (covariance_sigma0); unit normalised (libAtoms/GAP descriptors.F90, soap_calc).
#pragma once
#include <algorithm>
#include "soapgap/bessel.hpp"
#include "soapgap/descriptor.hpp"
#include "soapgap/spherical_harmonics.hpp"

namespace soapgap {

struct SoapParams {
  double cutoff = 0;
  double cutoff_transition_width = 0.5;
  int n_max = 0;
  int l_max = 0;
  double atom_sigma = 0;
  double central_weight = 1.0;
  bool central_reference_all_species = false;
  bool normalise = true;
  double covariance_sigma0 = 0.0;
  double basis_error_exponent = 10.0;
  std::vector<int> Z;          // central species (empty = every atom)
  std::vector<int> species_Z;  // neighbour species channels (empty = one channel for all)
  bool two_l_plus_one = true;  // xml_version >= 1423143769
  static SoapParams from_options(const Options& o);
  // The radial basis of another descriptor built on SOAP's functions (angular_dnl, bispectrum):
  // cutoff, cutoff_transition_width, n_max, l_max, atom_sigma, basis_error_exponent, checked.
  static SoapParams radial_only(const Options& o, const std::string& kind, int n_max_default, int l_max_default,
                                int l_max_limit);
};

// Limits of the parameters: i_l and Y_lm are checked against high-precision values up to l_max + 1.
inline constexpr int kMaxLMax = 50;
inline constexpr int kMaxNMax = 64;

class Soap final : public Descriptor {
 public:
  explicit Soap(SoapParams p);
  std::string kind() const override { return "soap"; }
  std::string default_covariance() const override { return "dot_product"; }
  int dimension() const override { return dim_; }
  double cutoff() const override { return p_.cutoff; }
  std::string to_string() const override;
  std::vector<int> neighbour_species() const override { return p_.species_Z; }
  bool sees_species(int z) const override { return is_centre(z) || channel_of(z) >= 0 || p_.species_Z.empty(); }
  int environment_count(const Structure& s) const override {
    return static_cast<int>(std::count_if(s.numbers.begin(), s.numbers.end(), [this](int z) { return is_centre(z); }));
  }
  DescriptorData compute(const Structure& s, const NeighbourList& nl, bool gradients) const override;
  // Blocks of centres: the value pass keeps X, |p| and each neighbour's radial and angular terms
  // with their derivatives, which accumulate_forces contracts with dE/dX without expanding
  // anything again. Blocks hold about 8 MB (at ~64 neighbours per centre) so the kept terms are
  // still in cache when the force pass reads them (Mo GAP, n = l = 8: 128 centres 100 µs/atom,
  // 32 centres 75 µs/atom).
  int force_block_size() const override;
  DescriptorData compute_for_forces(const Structure& s, const NeighbourList& nl, int first, int last) const override;
  void accumulate_forces(const Structure& s, const NeighbourList& nl, const DescriptorData& data,
                         const RowMatrixXd& dE_dvalues, const Eigen::VectorXd& dE_dcutoff, Positions& forces,
                         Eigen::Matrix3d& virial, RowMatrixXd* env_virials = nullptr) const override;
  const SoapParams& params() const { return p_; }
  // The radial part of one neighbour at distance r: c[l n_max + n] (l = 0..l_max) and dc/dr
  // (dc may be null), the cutoff function not included. angular_dnl uses the l = 0 functions.
  void radial(double r, double* c, double* dc) const;

  struct NeighbourTerms {          // one environment's neighbours as the gradient and force passes need them
    std::vector<int> atom, channel;
    std::vector<Eigen::Vector3d> rij;
    std::vector<double> fc, dfc;    // cutoff function and its r-derivative
    std::vector<double> values;     // per neighbour: c, dc ((l_max+1) n_max each), Y, dY ((l_max+1)², 3(l_max+1)²)
    void clear() {                  // keeps the capacity (reused per thread)
      for (auto* v : {&atom, &channel}) v->clear();
      for (auto* v : {&fc, &dfc, &values}) v->clear();
      rij.clear();
    }
  };
  // K x (l_max+1)² density coefficients of one environment, K = n_species n_max
  RowMatrixXd expand(const Structure& s, const NeighbourList& nl, int centre, NeighbourTerms* terms = nullptr) const;

 private:
  SoapParams p_;
  int K_, nlm_, dim_;
  int n_channels_;
  SphericalHarmonics sph_;
  ScaledBesselI bessel_;  // orders 0..l_max+1 (l_max+1 for the radial derivative)
  Eigen::MatrixXd transform_;     // C^{-1} L, n_max x n_max (rows: grid point a, cols: n)
  std::vector<double> transform_rows_;  // the same, row-major: the radial loop runs over n with unit stride
  Eigen::VectorXd grid_;          // r_a
  Eigen::VectorXd central_;       // L(0, n): central-atom coefficient per n
  double alpha_;
  int channel_of(int z) const;
  bool is_centre(int z) const;
  void power_spectrum(const RowMatrixXd& X, double* p) const;
  std::vector<int> centred_output(const Structure& s, const NeighbourList& nl, int first, int last, DescriptorData& out) const;
  double values_from(const RowMatrixXd& X, double* p) const;
  int channel_entering(const Structure& s, const Neighbour& nb) const;
  int neighbours_in(const Structure& s, const NeighbourList& nl, int centre) const;  // that enter the expansion
  void gradient_rows(const RowMatrixXd& X, const NeighbourTerms& t, double norm, const double* phat, double* rows) const;
  struct ForceCache {              // kept by compute_for_forces for accumulate_forces
    std::vector<RowMatrixXd> X;     // density coefficients per environment
    std::vector<double> norm;       // |p| before normalisation (1 when p = 0)
    std::vector<NeighbourTerms> terms;
  };
};

}  // namespace soapgap
