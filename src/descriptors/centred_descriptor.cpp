#include "soapgap/centred_descriptor.hpp"

#include <algorithm>
#include <sstream>

#include "soapgap/error.hpp"
#include "soapgap/parallel.hpp"

namespace soapgap {

namespace {
std::string join(const std::vector<int>& v) {
  std::ostringstream o;
  for (size_t k = 0; k < v.size(); ++k) o << (k ? " " : "") << v[k];
  return o.str();
}

std::vector<int> read_species(const Options& o, const char* key, const char* count_key) {
  std::vector<int> zs = o.get_ints({key});
  if (o.has(key) && zs.empty()) throw Error(o.context() + ": '" + key + "' lists no species (leave it out for all species)");
  for (int z : zs)
    if (z < 0 || z > 118)
      throw Error(o.context() + ": atomic number " + std::to_string(z) + " in '" + key + "' is not in 1..118");
  if (zs.size() == 1 && zs[0] == 0) zs.clear();  // 0 = any species, as in QUIP
  if (std::find(zs.begin(), zs.end(), 0) != zs.end())
    throw Error(o.context() + ": '" + key + "' mixes 0 (any species) with atomic numbers");
  std::vector<int> sorted = zs;
  std::sort(sorted.begin(), sorted.end());
  if (std::adjacent_find(sorted.begin(), sorted.end()) != sorted.end())
    throw Error(o.context() + ": '" + key + "' lists an atomic number twice");
  if (o.has(count_key) && o.get_int({count_key}, 0) != static_cast<int>(std::max<size_t>(zs.size(), 1)))
    throw Error(o.context() + ": " + count_key + "=" + std::to_string(o.get_int({count_key}, 0)) + " but '" + key +
                "' has " + std::to_string(zs.size()) + " entries");
  return zs;
}
}  // namespace

const std::vector<std::string>& centred_descriptor_keys() {
  static const std::vector<std::string> keys = {"cutoff",    "cutoff_transition_width", "Z", "n_Z", "species_Z",
                                                "n_species", "normalise", "normalize"};
  return keys;
}

CentredDescriptor::CentredDescriptor(const Options& o, double default_width, bool normalise_default)
    : cutoff_(o.require_double({"cutoff"})),
      width_(o.get_double({"cutoff_transition_width"}, default_width < 0 ? cutoff_ : default_width)),
      normalise_(o.get_bool({"normalise", "normalize"}, normalise_default)),
      Z_(read_species(o, "Z", "n_Z")),
      species_(read_species(o, "species_Z", "n_species")) {
  if (!(cutoff_ > 0)) throw Error(o.context() + ": cutoff must be positive, got " + std::to_string(cutoff_));
  if (!(width_ >= 0 && width_ <= cutoff_))
    throw Error(o.context() + ": cutoff_transition_width must be in [0, cutoff], got " + std::to_string(width_));
}

std::string CentredDescriptor::common_options() const {
  std::ostringstream o;
  o.precision(17);
  o << "cutoff=" << cutoff_ << " cutoff_transition_width=" << width_ << " normalise=" << (normalise_ ? "T" : "F");
  if (!Z_.empty()) o << " n_Z=" << Z_.size() << " Z={" << join(Z_) << "}";
  if (!species_.empty()) o << " n_species=" << species_.size() << " species_Z={" << join(species_) << "}";
  return o.str();
}

bool CentredDescriptor::is_centre(int z) const { return Z_.empty() || std::find(Z_.begin(), Z_.end(), z) != Z_.end(); }

int CentredDescriptor::channel_of(int z) const {
  if (species_.empty()) return 0;
  const auto it = std::find(species_.begin(), species_.end(), z);
  return it == species_.end() ? -1 : static_cast<int>(it - species_.begin());
}

bool CentredDescriptor::sees_species(int z) const { return is_centre(z) || channel_of(z) >= 0; }

int CentredDescriptor::pair_index(int a, int b) const {
  if (a > b) std::swap(a, b);
  return b * (b + 1) / 2 + a;
}

int CentredDescriptor::environment_count(const Structure& s) const {
  return static_cast<int>(std::count_if(s.numbers.begin(), s.numbers.end(), [this](int z) { return is_centre(z); }));
}

// x̂ = x/|x|, dx̂ = (dx - (dx·x̂) x̂)/|x|; a zero vector (no neighbours) stays zero.
void CentredDescriptor::normalise(Eigen::Ref<Eigen::RowVectorXd> x, RowMatrixXd* dx) {
  const double norm = x.norm();
  if (!(norm > 0)) return;
  x /= norm;
  if (!dx) return;
  const Eigen::VectorXd proj = *dx * x.transpose();
  *dx = (*dx - proj * x) / norm;
}

DescriptorData CentredDescriptor::compute(const Structure& s, const NeighbourList& nl, bool gradients) const {
  // gather the environments (cheap), evaluate them in parallel, then lay them out in order
  std::vector<CentredEnvironment> envs;
  for (int i = 0; i < std::min(s.size(), nl.centres()); ++i) {
    if (!is_centre(s.numbers[i])) continue;
    CentredEnvironment env;
    env.centre = i;
    for (const Neighbour* nb = nl.begin(i); nb != nl.end(i); ++nb) {
      const int ch = channel_of(s.numbers[nb->j]);
      if (nb->r >= cutoff_ || ch < 0) continue;
      env.atom.push_back(nb->j);
      env.channel.push_back(ch);
      env.rij.push_back(nb->rij);
      env.r.push_back(nb->r);
    }
    envs.push_back(std::move(env));
  }
  const int ne = static_cast<int>(envs.size()), dim = dimension();
  DescriptorData out;
  out.dim = dim;
  out.values = RowMatrixXd::Zero(ne, dim);
  out.cutoff.assign(ne, 1.0);
  for (const auto& env : envs) {
    out.ci.push_back(env.centre);
    out.ci_offset.push_back(static_cast<int>(out.ci.size()));
  }
  std::vector<RowMatrixXd> dx(gradients ? ne : 0);
  ExceptionCollector errors;
#pragma omp parallel for schedule(dynamic, 4)
  for (int e = 0; e < ne; ++e)
    errors.run([&] {
      if (gradients) dx[e] = RowMatrixXd::Zero(3 * envs[e].size(), dim);
      evaluate(envs[e], out.values.row(e).data(), gradients ? &dx[e] : nullptr);
      if (normalise_) normalise(out.values.row(e), gradients ? &dx[e] : nullptr);
    });
  errors.rethrow();
  if (!gradients) return out;
  int n_grad = 0;
  for (const auto& env : envs) n_grad += env.size() + 1;
  out.grad_atom.reserve(n_grad);
  out.grad_rel = Positions::Zero(n_grad, 3);
  out.grad_cutoff = Positions::Zero(n_grad, 3);
  out.grad_values = RowMatrixXd::Zero(3 * static_cast<Eigen::Index>(n_grad), dim);
  int g = 0;
  for (int e = 0; e < ne; ++e) {
    const CentredEnvironment& env = envs[e];
    const int gc = g++;  // the centre first: its position enters every r_ij with a minus sign
    out.grad_atom.push_back(env.centre);
    for (int k = 0; k < env.size(); ++k, ++g) {
      out.grad_atom.push_back(env.atom[k]);
      out.grad_rel.row(g) = env.rij[k].transpose();
      out.grad_values.middleRows(3 * static_cast<Eigen::Index>(g), 3) = dx[e].middleRows(3 * k, 3);
      out.grad_values.middleRows(3 * static_cast<Eigen::Index>(gc), 3) -= dx[e].middleRows(3 * k, 3);
    }
    out.grad_offset.push_back(g);
  }
  return out;
}

}  // namespace soapgap
