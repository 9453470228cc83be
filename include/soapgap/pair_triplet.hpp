// QUIP's low-body descriptors (descriptors.F90):
//  distance_2b: x = r_ij, covariance cutoff fc(r_ij); both ordered pairs (i,j), (j,i) are
//               environments, each shared by atoms i and j.
//  angle_3b:    x = (r_ij + r_ik, (r_ij - r_ik)^2, r_jk), cutoff fc(r_ij) fc(r_ik); every
//               ordered (j,k), j != k, around centre i; energy goes to i.
#pragma once
#include "soapgap/descriptor.hpp"

namespace soapgap {

class Distance2b final : public Descriptor {
 public:
  explicit Distance2b(const Options& o);
  std::string kind() const override { return "distance_2b"; }
  int dimension() const override { return 1; }
  double cutoff() const override { return cutoff_; }
  bool sees_species(int z) const override { return z1_ == 0 || z2_ == 0 || z == z1_ || z == z2_; }
  std::string to_string() const override;
  DescriptorData compute(const Structure& s, const NeighbourList& nl, bool gradients) const override;

 private:
  double cutoff_, width_;
  int z1_, z2_;  // 0 = any
};

class Angle3b final : public Descriptor {
 public:
  explicit Angle3b(const Options& o);
  std::string kind() const override { return "angle_3b"; }
  int dimension() const override { return 3; }
  double cutoff() const override { return cutoff_; }
  bool sees_species(int z) const override { return z_ == 0 || z1_ == 0 || z2_ == 0 || z == z_ || z == z1_ || z == z2_; }
  std::string to_string() const override;
  DescriptorData compute(const Structure& s, const NeighbourList& nl, bool gradients) const override;

 private:
  double cutoff_, width_;
  int z_, z1_, z2_;  // 0 = any
};

}  // namespace soapgap
