#include <cmath>
#include <sstream>

#include "soapgap/error.hpp"
#include "soapgap/neighbours.hpp"
#include "soapgap/pair_baselines.hpp"

namespace soapgap {

std::vector<int> parse_species_list(const std::string& text, const std::string& context) {
  std::istringstream is(text);
  std::vector<int> out;
  std::string t;
  while (is >> t) {
    if (std::isdigit(static_cast<unsigned char>(t[0]))) {
      int z = 0;
      try {
        size_t used = 0;
        z = std::stoi(t, &used);
        if (used != t.size()) z = 0;
      } catch (const std::exception&) {
        z = 0;
      }
      if (z < 1 || z > 118) throw Error(context + ": '" + excerpt(t) + "' is not an atomic number (1..118)");
      out.push_back(z);
    } else {
      try {
        out.push_back(atomic_number(t));
      } catch (const Error&) {
        throw Error(context + ": '" + excerpt(t) + "' is not a chemical symbol");
      }
    }
  }
  return out;
}

std::map<int, double> species_values(const Options& o, const std::vector<int>& species, const char* key, bool required,
                                     bool non_negative) {
  std::map<int, double> out;
  if (!o.has(key)) {
    if (required) throw Error(o.context() + ": " + o.name() + " needs '" + key + "' (one value per species)");
    return out;
  }
  const auto v = o.get_doubles({key}, {});
  if (v.size() != species.size())
    throw Error(o.context() + ": '" + key + "' has " + std::to_string(v.size()) + " values for " +
                std::to_string(species.size()) + " species");
  for (size_t k = 0; k < v.size(); ++k) {
    if (non_negative && !(v[k] >= 0)) throw Error(o.context() + ": '" + key + "' must be non-negative");
    out[species[k]] = v[k];
  }
  return out;
}

// E = ½ Σ_i Σ_j φ(r_ij) over the full neighbour list (each pair seen from both atoms): atom i gets
// ½φ, F_i = Σ_j φ'(r) r̂_ij (r_ij = r_j − r_i), W = −½ Σ_i Σ_j φ'(r) r_ij ⊗ r̂_ij.
void PairBaseline::add(const Structure& s, EnergyTerms& out) const {
  check(s);
  if (s.size() == 0) return;
  if (s.pbc[0] && s.pbc[1] && s.pbc[2]) {  // refuse a cutoff that would list billions of pairs
    const double pairs = double(s.size()) * s.size() * 4.18879 * std::pow(cutoff(), 3) / s.volume();
    if (pairs > 2e9)
      throw Error(s.where() + kind() + " baseline: a cutoff of " + std::to_string(cutoff()) + " Å would need ~" +
                  std::to_string(pairs) + " pair terms for this cell");
  }
  const NeighbourList nl = build_neighbour_list(s, cutoff());
  const bool forces = out.forces.rows() == s.size();
  Eigen::Matrix3d w = Eigen::Matrix3d::Zero();
  for (int i = 0; i < s.size(); ++i) {
    const int zi = s.numbers[i];
    for (const Neighbour* nb = nl.begin(i); nb != nl.end(i); ++nb) {
      const int zj = s.numbers[nb->j];
      if (!interacts(zi, zj)) continue;
      double phi = 0.0, dphi = 0.0;
      pair(zi, zj, nb->r, phi, dphi);
      out.energies[i] += 0.5 * phi;
      const Eigen::Vector3d g = (dphi / nb->r) * nb->rij;  // dφ/dr_j
      if (forces) out.forces.row(i) += g.transpose();
      w -= 0.5 * nb->rij * g.transpose();
    }
  }
  out.virial += w;
}

}  // namespace soapgap
