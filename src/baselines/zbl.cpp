// ZBL universal screening (Ziegler, Biersack, Littmark, The Stopping and Range of Ions in Solids,
// 1985): E = k_e Z_i Z_j/r φ(r/a), a = 0.46850/(Z_i^0.23 + Z_j^0.23) Å,
// φ(x) = 0.18175 e^{−3.19980x} + 0.50986 e^{−0.94229x} + 0.28022 e^{−0.40290x} + 0.02817 e^{−0.20162x}.
// Switch (LAMMPS pair_style zbl): E + C for r < r_inner, E + A/3 t³ + B/4 t⁴ + C with t = r − r_inner
// up to r_outer, A, B, C chosen so that energy, first and second derivative vanish at r_outer.
#include <algorithm>
#include <cmath>
#include <sstream>

#include "soapgap/error.hpp"
#include "soapgap/pair_baselines.hpp"

namespace soapgap {

namespace {
constexpr double kC[4] = {0.18175, 0.50986, 0.28022, 0.02817};
constexpr double kD[4] = {3.19980, 0.94229, 0.40290, 0.20162};
}  // namespace

Zbl::Zbl(const Options& o) {
  o.check_keys({"r_inner", "r_outer", "species", "coulomb_constant"});
  r_inner_ = o.require_double({"r_inner"});
  r_outer_ = o.require_double({"r_outer"});
  k_e_ = o.get_double({"coulomb_constant"}, kCoulombConstant);
  if (!(r_inner_ > 0) || !(r_outer_ > r_inner_))
    throw Error(o.context() + ": zbl needs 0 < r_inner < r_outer (the switching range), got r_inner=" +
                std::to_string(r_inner_) + " r_outer=" + std::to_string(r_outer_));
  if (!(k_e_ > 0)) throw Error(o.context() + ": coulomb_constant must be positive");
  species_ = parse_species_list(o.get_string({"species"}, ""), o.context() + ": species");
}

std::string Zbl::to_string() const {
  std::ostringstream s;
  s.precision(17);
  s << "zbl r_inner=" << r_inner_ << " r_outer=" << r_outer_ << " coulomb_constant=" << k_e_;
  if (!species_.empty()) {
    s << " species={";
    for (size_t k = 0; k < species_.size(); ++k) s << (k ? " " : "") << chemical_symbol(species_[k]);
    s << "}";
  }
  return s.str();
}

bool Zbl::interacts(int zi, int zj) const {
  if (species_.empty()) return true;
  auto has = [&](int z) { return std::find(species_.begin(), species_.end(), z) != species_.end(); };
  return has(zi) && has(zj);
}

double Zbl::energy(int zi, int zj, double r, double* d1, double* d2) const {
  const double ainv = (std::pow(zi, 0.23) + std::pow(zj, 0.23)) / 0.46850;
  const double zze = k_e_ * zi * zj;
  double phi = 0, dphi = 0, d2phi = 0;  // screening function and its r-derivatives
  for (int k = 0; k < 4; ++k) {
    const double e = kC[k] * std::exp(-kD[k] * ainv * r);
    phi += e;
    dphi -= kD[k] * ainv * e;
    d2phi += kD[k] * kD[k] * ainv * ainv * e;
  }
  const double rinv = 1.0 / r;
  if (d1) *d1 = zze * (dphi * rinv - phi * rinv * rinv);
  if (d2) *d2 = zze * (d2phi * rinv - 2 * dphi * rinv * rinv + 2 * phi * rinv * rinv * rinv);
  return zze * phi * rinv;
}

void Zbl::pair(int zi, int zj, double r, double& e, double& de) const {
  double fc1, fc2;
  const double fc = energy(zi, zj, r_outer_, &fc1, &fc2);
  const double tc = r_outer_ - r_inner_;
  const double a = (-3 * fc1 + tc * fc2) / (tc * tc), b = (2 * fc1 - tc * fc2) / (tc * tc * tc);
  const double c = -fc + 0.5 * tc * fc1 - tc * tc * fc2 / 12;
  e = energy(zi, zj, r, &de) + c;
  if (r > r_inner_) {
    const double t = r - r_inner_;
    e += t * t * t * (a / 3 + b / 4 * t);
    de += t * t * (a + b * t);
  }
}

}  // namespace soapgap
