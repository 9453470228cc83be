// Descriptors with one environment per centre atom, built from that atom's neighbours within the
// cutoff (Behler-Parrinello symmetry functions, Steinhardt invariants, d_nl, bispectrum). The
// shared part lives here: the options every such descriptor takes (cutoff, transition width,
// centre species Z, neighbour species channels species_Z), the neighbour gathering, and the
// assembly of values and position derivatives into DescriptorData. A descriptor only says how
// one environment maps to its vector and the vector's derivatives by the neighbour positions;
// the centre's derivative is minus their sum (translation invariance). normalise=T divides each
// vector by its length (as SOAP does), for a dot-product kernel; the default kernel follows.
#pragma once
#include <string>
#include <vector>

#include "soapgap/descriptor.hpp"

namespace soapgap {

struct CentredEnvironment {
  int centre = 0;                    // atom index of the centre
  std::vector<int> atom;             // neighbour atoms (a periodic image repeats its atom)
  std::vector<int> channel;          // neighbour species channel, 0..n_channels-1
  std::vector<Eigen::Vector3d> rij;  // r_neighbour - r_centre, Å
  std::vector<double> r;             // |rij|
  int size() const { return static_cast<int>(atom.size()); }
};

class CentredDescriptor : public Descriptor {
 public:
  double cutoff() const override { return cutoff_; }
  std::vector<int> neighbour_species() const override { return species_; }
  bool sees_species(int z) const override;
  int environment_count(const Structure& s) const override;
  std::string default_covariance() const override { return normalise_ ? "dot_product" : "gaussian"; }
  DescriptorData compute(const Structure& s, const NeighbourList& nl, bool gradients) const final;

 protected:
  // Reads cutoff (required), cutoff_transition_width (default_width; a negative default means
  // "the whole cutoff", Behler's f_c = (cos(π r / r_c) + 1) / 2), Z, species_Z and normalise.
  CentredDescriptor(const Options& o, double default_width, bool normalise_default = false);
  // x: dimension() values. dx (when not null) is resized by the caller to (3 n_neighbours) x
  // dimension(); row 3k+c is d x / d r_{k,c}.
  virtual void evaluate(const CentredEnvironment& env, double* x, RowMatrixXd* dx) const = 0;
  // "cutoff=... cutoff_transition_width=... normalise=. [Z={..}] [n_species=.. species_Z={..}]" for to_string()
  std::string common_options() const;
  int n_channels() const { return species_.empty() ? 1 : static_cast<int>(species_.size()); }
  // Unordered channel pairs (a <= b) are numbered b(b+1)/2 + a: (0,0) (0,1) (1,1) (0,2) .., DScribe's order.
  int pair_index(int a, int b) const;
  int n_pairs() const { return n_channels() * (n_channels() + 1) / 2; }
  double width() const { return width_; }

 private:
  double cutoff_, width_;
  bool normalise_;
  std::vector<int> Z_;        // centre species (empty: every atom)
  std::vector<int> species_;  // neighbour channels (empty: one channel for every species)
  bool is_centre(int z) const;
  int channel_of(int z) const;  // -1 if z is not seen
  static void normalise(Eigen::Ref<Eigen::RowVectorXd> x, RowMatrixXd* dx);
};

// Keys CentredDescriptor reads, for descriptor_keys().
const std::vector<std::string>& centred_descriptor_keys();

}  // namespace soapgap
