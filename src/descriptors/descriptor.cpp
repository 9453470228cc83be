#include "soapgap/descriptor.hpp"

#include <algorithm>

#include "soapgap/angular_dnl.hpp"
#include "soapgap/behler.hpp"
#include "soapgap/bispectrum.hpp"
#include "soapgap/error.hpp"
#include "soapgap/pair_triplet.hpp"
#include "soapgap/soap.hpp"
#include "soapgap/steinhardt.hpp"

namespace soapgap {

namespace {
const char* const kSupported = "soap, distance_2b, angle_3b, behler, steinhardt, angular_dnl, bispectrum";
}  // namespace

bool centred_with_channels(const std::string& kind) {
  return kind == "soap" || kind == "behler" || kind == "steinhardt" || kind == "angular_dnl" || kind == "bispectrum";
}

void Descriptor::accumulate_forces(const Structure& s, const NeighbourList& nl, const DescriptorData& data,
                                   const RowMatrixXd& dE_dvalues, const Eigen::VectorXd& dE_dcutoff,
                                   Positions& forces, Eigen::Matrix3d& virial, RowMatrixXd* env_virials) const {
  const DescriptorData d = data.has_gradients() ? data : compute(s, nl, true);
  if (env_virials) *env_virials = RowMatrixXd::Zero(d.size(), 9);
  for (int e = 0; e < d.size(); ++e)
    for (int g = d.grad_offset[e]; g < d.grad_offset[e + 1]; ++g) {
      Eigen::Vector3d dE;
      for (int c = 0; c < 3; ++c)
        dE[c] = d.grad_values.row(3 * g + c).dot(dE_dvalues.row(e)) + dE_dcutoff[e] * d.grad_cutoff(g, c);
      forces.row(d.grad_atom[g]) -= dE.transpose();
      const Eigen::Matrix3d w = d.grad_rel.row(g).transpose() * dE.transpose();
      virial -= w;
      if (env_virials)
        for (int a = 0; a < 3; ++a)
          for (int b = 0; b < 3; ++b) (*env_virials)(e, 3 * a + b) -= w(a, b);
    }
}

DescriptorData Descriptor::compute_for_forces(const Structure&, const NeighbourList&, int, int) const {
  throw Error(kind() + ": blocked evaluation is not supported (force_block_size() is 0)");
}

std::unique_ptr<Descriptor> make_descriptor(const Options& o) {
  if (o.name() == "soap") return std::make_unique<Soap>(SoapParams::from_options(o));
  if (o.name() == "distance_2b") return std::make_unique<Distance2b>(o);
  if (o.name() == "angle_3b") return std::make_unique<Angle3b>(o);
  if (o.name() == "behler") return std::make_unique<Behler>(o);
  if (o.name() == "steinhardt") return std::make_unique<Steinhardt>(o);
  if (o.name() == "angular_dnl") return std::make_unique<AngularDnl>(o);
  if (o.name() == "bispectrum") return std::make_unique<Bispectrum>(o);
  throw Error(o.context() + ": unknown or unsupported descriptor '" + o.name() + "' (supported: " + kSupported + ")");
}

std::unique_ptr<Descriptor> make_descriptor(const std::string& text) { return make_descriptor(Options::parse(text)); }

const std::vector<std::string>& descriptor_keys(const std::string& kind) {
  // Keys each constructor reads (unsupported QUIP options included: they get their own error).
  static const std::vector<std::string> soap = {
      "cutoff", "cutoff_transition_width", "n_max", "l_max", "atom_sigma", "atom_gaussian_width",
      "central_weight", "normalise", "normalize", "covariance_sigma0", "basis_error_exponent", "Z", "n_Z",
      "species_Z", "n_species", "xml_version", "central_reference_all_species", "average", "diagonal_radial",
      "Z_mix", "R_mix", "sym_mix", "radial_basis", "cutoff_dexp"};
  static const std::vector<std::string> distance_2b = {"cutoff", "cutoff_transition_width", "Z1", "Z2",
                                                       "n_exponents", "exponents", "only_intra", "only_inter",
                                                       "resid_name", "tail_exponent"};
  static const std::vector<std::string> angle_3b = {"cutoff", "cutoff_transition_width", "Z", "Z_center", "Z1", "Z2"};
  if (kind == "soap") return soap;
  if (kind == "distance_2b") return distance_2b;
  if (kind == "angle_3b") return angle_3b;
  if (kind == "behler") return behler_keys();
  if (kind == "steinhardt") return steinhardt_keys();
  if (kind == "angular_dnl") return angular_dnl_keys();
  if (kind == "bispectrum") return bispectrum_keys();
  throw Error("unknown or unsupported descriptor '" + kind + "' (supported: " + kSupported + ")");
}

std::vector<std::string> expand_species(const Options& o, const std::vector<int>& species_in) {
  // species in the order given (gap_fit: order of first appearance in the data), duplicates dropped
  std::vector<int> sp;
  for (int z : species_in)
    if (std::find(sp.begin(), sp.end(), z) == sp.end()) sp.push_back(z);
  std::vector<std::string> out;
  auto with = [&](std::vector<std::pair<std::string, std::string>> extra) {
    Options c = o;
    c.set("add_species", "F");
    for (auto& [k, v] : extra) c.set(k, v);
    out.push_back(c.str());
  };
  std::string all;
  for (size_t k = 0; k < sp.size(); ++k) all += (k ? " " : "") + std::to_string(sp[k]);
  if (centred_with_channels(o.name())) {
    for (int z : sp)
      with({{"n_species", std::to_string(sp.size())}, {"species_Z", all}, {"Z", std::to_string(z)}, {"n_Z", "1"}});
  } else if (o.name() == "distance_2b") {
    for (size_t a = 0; a < sp.size(); ++a)
      for (size_t b = a; b < sp.size(); ++b) with({{"Z1", std::to_string(sp[a])}, {"Z2", std::to_string(sp[b])}});
  } else if (o.name() == "angle_3b") {
    for (int z : sp)
      for (size_t a = 0; a < sp.size(); ++a)
        for (size_t b = a; b < sp.size(); ++b)
          with({{"Z", std::to_string(z)}, {"Z1", std::to_string(sp[a])}, {"Z2", std::to_string(sp[b])}});
  } else {
    throw Error(o.context() + ": unknown descriptor '" + o.name() + "'");
  }
  return out;
}

}  // namespace soapgap
