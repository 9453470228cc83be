// Tabulated pair potential from a LAMMPS `pair_style table` file. Between tabulated points the
// energy is the cubic Hermite interpolant of (r_k, E_k, −F_k): C¹, exact at the points, and the
// force is its exact derivative (LAMMPS splines E and F separately; on a finely tabulated smooth
// function the two agree to the interpolation error). Beyond the last point the term is zero;
// below the first point a frame is refused, as in LAMMPS.
#include <algorithm>
#include <cmath>
#include <fstream>
#include <sstream>

#include "soapgap/error.hpp"
#include "soapgap/neighbours.hpp"
#include "soapgap/pair_baselines.hpp"

namespace soapgap {

TableSection read_lammps_table(const std::string& path, const std::string& keyword) {
  std::ifstream in(path);
  if (!in) throw Error(path + ": cannot open pair table file");
  std::string line;
  long lineno = 0;
  auto words = [](const std::string& l) {
    std::istringstream is(l);
    std::vector<std::string> w;
    std::string t;
    while (is >> t) w.push_back(t);
    return w;
  };
  bool found = false;
  while (std::getline(in, line)) {
    ++lineno;
    const auto w = words(line);
    if (!w.empty() && w[0][0] != '#' && w[0] == keyword) {
      found = true;
      break;
    }
  }
  if (!found) throw Error(path + ": no section '" + keyword + "' in the pair table file");
  const std::string at = path + ", section " + keyword;
  // parameter line: N n [R rlo rhi | RSQ rlo rhi | BITMAP ... | FPRIME fplo fphi]
  std::vector<std::string> w;
  while (std::getline(in, line) && (++lineno, w = words(line)).empty()) {
  }
  if (w.size() < 2 || w[0] != "N") throw Error(at + ", line " + std::to_string(lineno) + ": expected 'N <count> ...'");
  long n = 0;
  try {
    n = std::stol(w[1]);
  } catch (const std::exception&) {
    n = 0;
  }
  if (n < 2 || n > 10000000) throw Error(at + ", line " + std::to_string(lineno) + ": N must be an integer of at least 2");
  char spacing = 0;  // 'R' or 'S' (RSQ) when r comes from the parameter line
  double rlo = 0, rhi = 0;
  for (size_t k = 2; k < w.size(); ++k) {
    if (w[k] == "R" || w[k] == "RSQ") {
      spacing = w[k] == "R" ? 'R' : 'S';
      try {
        if (k + 2 >= w.size()) throw std::invalid_argument("");
        rlo = std::stod(w[k + 1]);
        rhi = std::stod(w[k + 2]);
      } catch (const std::exception&) {
        throw Error(at + ", line " + std::to_string(lineno) + ": " + w[k] + " needs two numbers (inner and outer r)");
      }
      if (!(rlo > 0) || !(rhi > rlo)) throw Error(at + ", line " + std::to_string(lineno) + ": " + w[k] + " needs 0 < inner < outer");
      k += 2;
    } else if (w[k] == "BITMAP") {
      throw Error(at + ": BITMAP tables are not supported (tabulate in r or r² instead)");
    } else if (w[k] == "FPRIME") {
      k += 2;  // end-point force derivatives: only used by LAMMPS' own force spline
    } else {
      throw Error(at + ", line " + std::to_string(lineno) + ": unknown table keyword '" + excerpt(w[k]) + "'");
    }
  }
  TableSection t;
  for (long k = 0; k < n;) {
    if (!std::getline(in, line)) throw Error(at + ": file ends after " + std::to_string(k) + " of " + std::to_string(n) + " points");
    ++lineno;
    const auto v = words(line);
    if (v.empty()) continue;
    double r, e, f;
    try {
      if (v.size() < 4) throw std::invalid_argument("");
      r = std::stod(v[1]);
      e = std::stod(v[2]);
      f = std::stod(v[3]);
    } catch (const std::exception&) {
      throw Error(at + ", line " + std::to_string(lineno) + ": expected 'index r energy force', got '" + excerpt(line) + "'");
    }
    if (spacing == 'R') r = rlo + (rhi - rlo) * k / (n - 1);
    if (spacing == 'S') r = std::sqrt(rlo * rlo + (rhi * rhi - rlo * rlo) * k / (n - 1));
    t.r.push_back(r);
    t.e.push_back(e);
    t.f.push_back(f);
    ++k;
  }
  return t;
}

PairTable::PairTable(const Options& o) {
  o.check_keys({"file", "keyword", "species"});
  const std::string file = o.get_string({"file"}, ""), keyword = o.get_string({"keyword"}, "");
  if (file.empty() || keyword.empty()) throw Error(o.context() + ": table needs file=<LAMMPS table file> and keyword=<section>");
  const auto sp = parse_species_list(o.get_string({"species"}, ""), o.context() + ": species");
  if (sp.size() != 2) throw Error(o.context() + ": table needs species={A B}, the pair it applies to");
  species_ = {std::min(sp[0], sp[1]), std::max(sp[0], sp[1])};
  TableSection t = read_lammps_table(file, keyword);
  r_ = std::move(t.r);
  e_ = std::move(t.e);
  f_ = std::move(t.f);
  source_ = file + ":" + keyword;
  validate();
}

PairTable::PairTable(std::pair<int, int> species, std::vector<double> r, std::vector<double> e, std::vector<double> f,
                     std::string source)
    : species_{std::min(species.first, species.second), std::max(species.first, species.second)},
      r_(std::move(r)), e_(std::move(e)), f_(std::move(f)), source_(std::move(source)) {
  validate();
}

void PairTable::validate() const {
  const std::string at = "pair table " + source_;
  if (r_.size() < 2 || e_.size() != r_.size() || f_.size() != r_.size()) throw Error(at + ": needs at least two points with r, energy and force");
  for (size_t k = 0; k < r_.size(); ++k) {
    if (!std::isfinite(r_[k]) || !std::isfinite(e_[k]) || !std::isfinite(f_[k]))
      throw Error(at + ": point " + std::to_string(k + 1) + " is not finite");
    if (k > 0 && !(r_[k] > r_[k - 1]))
      throw Error(at + ": r is not strictly increasing at point " + std::to_string(k + 1) + " (r = " +
                  std::to_string(r_[k - 1]) + " then " + std::to_string(r_[k]) + ")");
  }
  if (!(r_[0] > 0)) throw Error(at + ": r must be positive");
}

std::string PairTable::to_string() const {
  std::ostringstream s;
  s << "table species={" << chemical_symbol(species_.first) << " " << chemical_symbol(species_.second)
    << "} points=" << r_.size() << " source={" << source_ << "}";
  return s.str();
}

bool PairTable::interacts(int zi, int zj) const {
  return std::min(zi, zj) == species_.first && std::max(zi, zj) == species_.second;
}

void PairTable::check(const Structure& s) const {
  if (s.size() < 2) return;
  const NeighbourList nl = build_neighbour_list(s, r_.front());
  for (int i = 0; i < s.size(); ++i)
    for (const Neighbour* nb = nl.begin(i); nb != nl.end(i); ++nb)
      if (interacts(s.numbers[i], s.numbers[nb->j]))
        throw Error(s.where() + "atoms " + std::to_string(i) + " and " + std::to_string(nb->j) + " are " +
                    std::to_string(nb->r) + " Å apart, below the first point of pair table " + source_ + " (" +
                    std::to_string(r_.front()) + " Å)");
}

void PairTable::pair(int, int, double r, double& e, double& de) const {
  // interval containing r (check() refuses r below the first point; clamp anyway)
  const size_t up = std::upper_bound(r_.begin(), r_.end(), r) - r_.begin();
  const size_t k = std::clamp<size_t>(up, 1, r_.size() - 1) - 1;
  const double h = r_[k + 1] - r_[k], t = (r - r_[k]) / h, t2 = t * t, t3 = t2 * t;
  const double m0 = -f_[k] * h, m1 = -f_[k + 1] * h;  // dE/dt at both ends
  e = (2 * t3 - 3 * t2 + 1) * e_[k] + (t3 - 2 * t2 + t) * m0 + (-2 * t3 + 3 * t2) * e_[k + 1] + (t3 - t2) * m1;
  de = ((6 * t2 - 6 * t) * e_[k] + (3 * t2 - 4 * t + 1) * m0 + (-6 * t2 + 6 * t) * e_[k + 1] + (3 * t2 - 2 * t) * m1) / h;
}

}  // namespace soapgap
