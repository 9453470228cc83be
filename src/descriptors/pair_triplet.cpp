#include "soapgap/pair_triplet.hpp"

#include <algorithm>

#include <sstream>

#include "soapgap/cutoff.hpp"
#include "soapgap/error.hpp"

namespace soapgap {

namespace {
void check_cutoff(const Options& o, double cutoff, double width) {
  if (!(cutoff > 0)) throw Error(o.context() + ": cutoff must be positive, got " + std::to_string(cutoff));
  if (width < 0 || width > cutoff) throw Error(o.context() + ": cutoff_transition_width must be in [0, cutoff]");
}
void check_species(const Options& o, std::initializer_list<int> zs) {
  for (int z : zs)
    if (z < 0 || z > 118) throw Error(o.context() + ": atomic number " + std::to_string(z) + " is not in 0..118 (0 = any)");
}
bool match(int want, int z) { return want == 0 || want == z; }
// unordered species match for a pair (QUIP: Z1/Z2 either way round)
bool match_pair(int a, int b, int za, int zb) { return (match(a, za) && match(b, zb)) || (match(a, zb) && match(b, za)); }
}  // namespace

Distance2b::Distance2b(const Options& o)
    : cutoff_(o.require_double({"cutoff"})),
      width_(o.get_double({"cutoff_transition_width"}, 0.5)),
      z1_(o.get_int({"Z1"}, 0)),
      z2_(o.get_int({"Z2"}, 0)) {
  check_cutoff(o, cutoff_, width_);
  check_species(o, {z1_, z2_});
  if (o.get_int({"n_exponents"}, 1) != 1 || o.get_double({"exponents"}, 1.0) != 1.0)
    throw Error(o.context() + ": distance_2b exponents other than 1 are not supported yet");
  if (o.get_bool({"only_intra"}, false) || o.get_bool({"only_inter"}, false) || o.has("resid_name") ||
      o.get_double({"tail_exponent"}, 0.0) != 0.0)
    throw Error(o.context() + ": distance_2b residue/tail options are not supported yet");
}

std::string Distance2b::to_string() const {
  std::ostringstream o;
  o.precision(17);
  o << "distance_2b cutoff=" << cutoff_ << " cutoff_transition_width=" << width_ << " Z1=" << z1_ << " Z2=" << z2_;
  return o.str();
}

DescriptorData Distance2b::compute(const Structure& s, const NeighbourList& nl, bool gradients) const {
  DescriptorData out;
  out.dim = 1;
  std::vector<double> vals;
  for (int i = 0; i < std::min(s.size(), nl.centres()); ++i)
    for (const Neighbour* nb = nl.begin(i); nb != nl.end(i); ++nb) {
      if (nb->r >= cutoff_ || !match_pair(z1_, z2_, s.numbers[i], s.numbers[nb->j])) continue;
      const CutoffValue fc = cosine_cutoff(nb->r, cutoff_, width_);
      vals.push_back(nb->r);
      out.cutoff.push_back(fc.f);
      out.ci.push_back(i);
      out.ci.push_back(nb->j);
      out.ci_offset.push_back(static_cast<int>(out.ci.size()));
      if (gradients) {
        const Eigen::Vector3d u = nb->rij / nb->r;
        const int g = static_cast<int>(out.grad_atom.size());
        out.grad_atom.push_back(i);
        out.grad_atom.push_back(nb->j);
        out.grad_rel.conservativeResize(g + 2, 3);
        out.grad_cutoff.conservativeResize(g + 2, 3);
        out.grad_values.conservativeResize(3 * (g + 2), 1);
        out.grad_rel.row(g).setZero();
        out.grad_rel.row(g + 1) = nb->rij.transpose();
        for (int c = 0; c < 3; ++c) {
          out.grad_values(3 * g + c, 0) = -u[c];
          out.grad_values(3 * (g + 1) + c, 0) = u[c];
          out.grad_cutoff(g, c) = -fc.df * u[c];
          out.grad_cutoff(g + 1, c) = fc.df * u[c];
        }
        out.grad_offset.push_back(g + 2);
      }
    }
  out.values = Eigen::Map<RowMatrixXd>(vals.data(), static_cast<Eigen::Index>(vals.size()), 1);
  return out;
}

Angle3b::Angle3b(const Options& o)
    : cutoff_(o.require_double({"cutoff"})),
      width_(o.get_double({"cutoff_transition_width"}, 0.5)),
      z_(o.get_int({"Z_center", "Z"}, 0)),
      z1_(o.get_int({"Z1"}, 0)),
      z2_(o.get_int({"Z2"}, 0)) {
  check_cutoff(o, cutoff_, width_);
  check_species(o, {z_, z1_, z2_});
}

std::string Angle3b::to_string() const {
  std::ostringstream o;
  o.precision(17);
  o << "angle_3b cutoff=" << cutoff_ << " cutoff_transition_width=" << width_ << " Z=" << z_ << " Z1=" << z1_
    << " Z2=" << z2_;
  return o.str();
}

DescriptorData Angle3b::compute(const Structure& s, const NeighbourList& nl, bool gradients) const {
  DescriptorData out;
  out.dim = 3;
  std::vector<double> vals;
  for (int i = 0; i < std::min(s.size(), nl.centres()); ++i) {
    if (!match(z_, s.numbers[i])) continue;
    for (const Neighbour* a = nl.begin(i); a != nl.end(i); ++a) {
      if (a->r >= cutoff_) continue;
      for (const Neighbour* b = nl.begin(i); b != nl.end(i); ++b) {
        if (a == b || b->r >= cutoff_ || !match_pair(z1_, z2_, s.numbers[a->j], s.numbers[b->j])) continue;
        const Eigen::Vector3d rjk = b->rij - a->rij;
        const double djk = rjk.norm();
        const CutoffValue fj = cosine_cutoff(a->r, cutoff_, width_), fk = cosine_cutoff(b->r, cutoff_, width_);
        vals.insert(vals.end(), {a->r + b->r, (a->r - b->r) * (a->r - b->r), djk});
        out.cutoff.push_back(fj.f * fk.f);
        out.ci.push_back(i);
        out.ci_offset.push_back(static_cast<int>(out.ci.size()));
        if (!gradients) continue;
        const Eigen::Vector3d uj = a->rij / a->r, uk = b->rij / b->r, ujk = rjk / djk;
        const int g = static_cast<int>(out.grad_atom.size());
        out.grad_atom.insert(out.grad_atom.end(), {i, a->j, b->j});
        out.grad_rel.conservativeResize(g + 3, 3);
        out.grad_cutoff.conservativeResize(g + 3, 3);
        out.grad_values.conservativeResize(3 * (g + 3), 3);
        out.grad_rel.row(g).setZero();
        out.grad_rel.row(g + 1) = a->rij.transpose();
        out.grad_rel.row(g + 2) = b->rij.transpose();
        const double dd = 2.0 * (a->r - b->r);
        for (int c = 0; c < 3; ++c) {
          // d/dr_j
          out.grad_values.row(3 * (g + 1) + c) << uj[c], dd * uj[c], -ujk[c];
          // d/dr_k
          out.grad_values.row(3 * (g + 2) + c) << uk[c], -dd * uk[c], ujk[c];
          out.grad_values.row(3 * g + c) = -out.grad_values.row(3 * (g + 1) + c) - out.grad_values.row(3 * (g + 2) + c);
          out.grad_cutoff(g + 1, c) = fj.df * uj[c] * fk.f;
          out.grad_cutoff(g + 2, c) = fj.f * fk.df * uk[c];
          out.grad_cutoff(g, c) = -out.grad_cutoff(g + 1, c) - out.grad_cutoff(g + 2, c);
        }
        out.grad_offset.push_back(g + 3);
      }
    }
  }
  out.values = Eigen::Map<RowMatrixXd>(vals.data(), static_cast<Eigen::Index>(vals.size() / 3), 3);
  return out;
}

}  // namespace soapgap
