// One descriptor interface for fitting, prediction and the similarity tools: a descriptor maps
// a structure to per-environment vectors and, on request, their derivatives with respect to
// every atom position (forces) together with the image-shifted relative positions (virial).
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "soapgap/neighbours.hpp"
#include "soapgap/options.hpp"
#include "soapgap/structure.hpp"

namespace soapgap {

struct DescriptorData {
  int dim = 0;
  RowMatrixXd values;              // n_env x dim
  std::vector<int> ci_offset{0};   // energy of env e is shared equally by atoms ci[ci_offset[e]..ci_offset[e+1])
  std::vector<int> ci;
  std::vector<double> cutoff;      // covariance cutoff of each environment (1 for SOAP)
  // Gradients (empty unless requested). Entry g of environment e (g in [grad_offset[e], grad_offset[e+1])):
  std::vector<int> grad_offset{0};
  std::vector<int> grad_atom;      // atom whose position is differentiated
  Positions grad_rel;              // r_atom (image) - r_centre, for the virial
  RowMatrixXd grad_values;         // row 3g+c: d values / d r_{atom,c}
  Positions grad_cutoff;           // d cutoff / d r_atom
  int size() const { return static_cast<int>(values.rows()); }
  // Descriptor-specific data kept from compute_for_forces for accumulate_forces (may be empty).
  std::shared_ptr<const void> cache;
  bool has_gradients() const { return values.rows() > 0 && static_cast<Eigen::Index>(grad_offset.size()) == values.rows() + 1; }
};

class Descriptor {
 public:
  virtual ~Descriptor() = default;
  virtual std::string kind() const = 0;
  virtual int dimension() const = 0;
  virtual double cutoff() const = 0;
  // The covariance a gap term uses when covariance_type is not given: a Gaussian of the
  // descriptor difference (with theta_uniform or theta_fac), or a dot product for normalised
  // power spectra.
  virtual std::string default_covariance() const { return "gaussian"; }
  // QUIP-style string that reconstructs this descriptor exactly.
  virtual std::string to_string() const = 0;
  // Species whose neighbours the descriptor sees; empty if it sees every species. Used to refuse
  // structures a similarity measure would silently misrepresent.
  virtual std::vector<int> neighbour_species() const { return {}; }
  // Whether atoms of species z change this descriptor's output (as centres or neighbours).
  virtual bool sees_species(int /*z*/) const { return true; }
  // Number of environments compute() returns for s (the default computes them; SOAP counts its
  // centres), so callers can allocate once.
  virtual int environment_count(const Structure& s) const {
    return compute(s, build_neighbour_list(s, cutoff()), false).size();
  }
  virtual DescriptorData compute(const Structure& s, const NeighbourList& nl, bool gradients) const = 0;
  // Blocked evaluation of energy and forces (Potential::predict): a descriptor whose environments
  // are centred on atoms returns a block size > 0 and computes, in compute_for_forces, the
  // environments of the centres first..last-1, keeping in DescriptorData::cache what its
  // accumulate_forces would otherwise compute again. The default (0) means: not supported.
  virtual int force_block_size() const { return 0; }
  virtual DescriptorData compute_for_forces(const Structure& s, const NeighbourList& nl, int first, int last) const;
  // Adds -dE/dr to forces and -sum rel ⊗ dE/dr to the virial for an energy E that depends on
  // this descriptor through dE_dvalues (n_env x dim) and dE_dcutoff (n_env); if env_virials is
  // given (n_env x 9, row-major 3x3), also each environment's own part of that virial. The default
  // builds the full gradients; descriptors with cheaper reverse-mode derivatives override it.
  virtual void accumulate_forces(const Structure& s, const NeighbourList& nl, const DescriptorData& data,
                                 const RowMatrixXd& dE_dvalues, const Eigen::VectorXd& dE_dcutoff,
                                 Positions& forces, Eigen::Matrix3d& virial, RowMatrixXd* env_virials = nullptr) const;
};

// Build from a QUIP-style string ("soap n_max=8 l_max=6 ...", "distance_2b cutoff=5 ...").
// Throws soapgap::Error naming the parameter for impossible values.
std::unique_ptr<Descriptor> make_descriptor(const Options& opts);
std::unique_ptr<Descriptor> make_descriptor(const std::string& text);
// Every key a descriptor of this kind understands (QUIP altkeys included), for Options::check_keys.
const std::vector<std::string>& descriptor_keys(const std::string& kind);

// Whether descriptors of this kind take centre species Z and neighbour channels species_Z (soap
// and the atom-centred family), rather than the Z1/Z2 of distance_2b and angle_3b.
bool centred_with_channels(const std::string& kind);

// The descriptor strings a gap_fit-style `add_species=T` expands to, for the species present,
// in the order given (gap_fit uses the order of first appearance in the training data).
std::vector<std::string> expand_species(const Options& opts, const std::vector<int>& species);

}  // namespace soapgap
