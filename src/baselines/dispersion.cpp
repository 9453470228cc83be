// Pairwise dispersion −C6_ij f(r)/r⁶ with
//   Becke–Johnson (rational) damping: C6/(r⁶ + R⁶), R = a1 (r0_i + r0_j) + a2
//     (Becke & Johnson, J. Chem. Phys. 123, 154101 (2005); Grimme et al., J. Comput. Chem. 32, 1456 (2011));
//   Tang–Toennies damping: f6(b r) = 1 − e^{−x} Σ_{k=0..6} x^k/k!, b_ij = √(b_i b_j)
//     (Tang & Toennies, J. Chem. Phys. 80, 3726 (1984));
//   none: bare −C6/r⁶ (only for frames whose atoms never come close).
// C6_ij = s6 √(C6_i C6_j) (Grimme D2 combination). Tail S(r) = 1 − 10t³ + 15t⁴ − 6t⁵ over
// [cutoff − cutoff_width, cutoff] so energy and force go continuously to zero.
#include <cmath>
#include <sstream>
#include <utility>

#include "soapgap/error.hpp"
#include "soapgap/pair_baselines.hpp"

namespace soapgap {


Dispersion::Dispersion(const Options& o) {
  o.check_keys({"species", "c6", "r0", "b", "damping", "s6", "a1", "a2", "cutoff", "cutoff_width"});
  const std::vector<int> sp = parse_species_list(o.get_string({"species"}, ""), o.context() + ": species");
  if (sp.empty()) throw Error(o.context() + ": dispersion needs species={...} and c6={...} (eV Å⁶, one per species)");
  const std::string d = o.get_string({"damping"}, "bj");
  if (d == "bj") damping_ = Damping::BeckeJohnson;
  else if (d == "tt") damping_ = Damping::TangToennies;
  else if (d == "none") damping_ = Damping::None;
  else throw Error(o.context() + ": damping must be bj, tt or none, got '" + excerpt(d) + "'");
  c6_ = species_values(o, sp, "c6", true, true);
  r0_ = species_values(o, sp, "r0", damping_ == Damping::BeckeJohnson && !o.has("a2"), true);
  b_ = species_values(o, sp, "b", damping_ == Damping::TangToennies, true);
  s6_ = o.get_double({"s6"}, 1.0);
  a1_ = o.get_double({"a1"}, 1.0);
  a2_ = o.get_double({"a2"}, 0.0);
  cutoff_ = o.require_double({"cutoff"});
  width_ = o.get_double({"cutoff_width"}, 1.0);
  if (!(cutoff_ > 0) || !(width_ > 0) || width_ > cutoff_)
    throw Error(o.context() + ": dispersion needs cutoff > 0 and 0 < cutoff_width <= cutoff");
  if (damping_ == Damping::BeckeJohnson && r0_.empty()) {
    for (int z : sp) r0_[z] = 0.0;
  }
  if (damping_ == Damping::BeckeJohnson && !(a2_ > 0) && !(a1_ > 0))
    throw Error(o.context() + ": Becke-Johnson damping needs a positive damping radius (a1 with r0, or a2)");
}

std::vector<int> Dispersion::species() const {
  std::vector<int> z;
  for (const auto& [k, v] : c6_) z.push_back(k);
  return z;
}

std::string Dispersion::to_string() const {
  std::ostringstream s;
  s.precision(17);
  auto list = [&](const char* key, const std::map<int, double>& m) {
    if (m.empty()) return;
    s << " " << key << "={";
    bool first = true;
    for (const auto& [z, v] : m) s << (std::exchange(first, false) ? "" : " ") << v;
    s << "}";
  };
  s << "dispersion damping=" << (damping_ == Damping::BeckeJohnson ? "bj" : damping_ == Damping::TangToennies ? "tt" : "none");
  s << " species={";
  bool first = true;
  for (const auto& [z, v] : c6_) s << (std::exchange(first, false) ? "" : " ") << chemical_symbol(z);
  s << "}";
  list("c6", c6_);
  if (damping_ == Damping::BeckeJohnson) {
    list("r0", r0_);
    s << " a1=" << a1_ << " a2=" << a2_;
  }
  if (damping_ == Damping::TangToennies) list("b", b_);
  s << " s6=" << s6_ << " cutoff=" << cutoff_ << " cutoff_width=" << width_;
  return s.str();
}

void Dispersion::check(const Structure& s) const {
  for (int i = 0; i < s.size(); ++i)
    if (!c6_.count(s.numbers[i]))
      throw Error(s.where() + "atom " + std::to_string(i) + " is " + chemical_symbol(s.numbers[i]) +
                  ", for which the dispersion baseline has no C6 (add it to species/c6, with 0 for none)");
}

void Dispersion::pair(int zi, int zj, double r, double& e, double& de) const {
  const double c6 = s6_ * std::sqrt(c6_.at(zi) * c6_.at(zj));
  const double r2 = r * r, r6 = r2 * r2 * r2;
  double f = 0, df = 0;  // −C6 × damped 1/r⁶ and its derivative
  switch (damping_) {
    case Damping::BeckeJohnson: {
      const double R = a1_ * (r0_.at(zi) + r0_.at(zj)) + a2_;
      const double den = r6 + std::pow(R, 6);
      f = -c6 / den;
      df = c6 * 6 * r6 / r / (den * den);
      break;
    }
    case Damping::TangToennies: {
      const double b = std::sqrt(b_.at(zi) * b_.at(zj)), x = b * r;
      double term = 1.0, sum = 1.0;  // Σ_{k=0..6} x^k/k!
      for (int k = 1; k <= 6; ++k) sum += (term *= x / k);
      const double ex = std::exp(-x), f6 = 1.0 - ex * sum;
      const double df6dr = b * ex * term;  // d f6/dx = e^{−x} x⁶/6!, and term holds x⁶/6!
      f = -c6 * f6 / r6;
      df = -c6 * (df6dr / r6 - 6 * f6 / (r6 * r));
      break;
    }
    case Damping::None:
      f = -c6 / r6;
      df = 6 * c6 / (r6 * r);
      break;
  }
  // smooth tail
  const double r_on = cutoff_ - width_;
  if (r <= r_on) {
    e = f;
    de = df;
    return;
  }
  const double t = (r - r_on) / width_;
  const double sw = 1 - t * t * t * (10 - 15 * t + 6 * t * t);
  const double dsw = -30 * t * t * (1 - t) * (1 - t) / width_;
  e = f * sw;
  de = df * sw + f * dsw;
}

}  // namespace soapgap
