// Pair baselines E = ½ Σ_i Σ_j φ_{Z_i Z_j}(r_ij): each atom receives half of each of its pairs.
//  zbl         Ziegler–Biersack–Littmark screened nuclear repulsion, with LAMMPS `pair_style zbl`'s
//              switching polynomial between r_inner and r_outer (energy, force and curvature → 0).
//  dispersion  −C6_ij f_damp(r)/r⁶ × S(r): Becke–Johnson or Tang–Toennies damping, smooth tail S
//              over [cutoff − cutoff_width, cutoff], C6_ij = s6 √(C6_i C6_j).
//  table       one species pair from a LAMMPS `pair_style table` file, C¹ cubic Hermite interpolation
//              through the tabulated energies and forces (force = −dE/dr exactly).
#pragma once
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "soapgap/baseline.hpp"
#include "soapgap/options.hpp"

namespace soapgap {

class PairBaseline : public Baseline {
 public:
  void add(const Structure& s, EnergyTerms& out) const override;
  virtual double cutoff() const = 0;
  // φ and dφ/dr for one pair; `interacts` false means no term for this species pair.
  virtual bool interacts(int zi, int zj) const = 0;
  virtual void pair(int zi, int zj, double r, double& phi, double& dphi) const = 0;
  // Lets a term refuse a frame before the pair loop (species without parameters, r below a table).
  virtual void check(const Structure&) const {}
};

class Zbl final : public PairBaseline {
 public:
  explicit Zbl(const Options& o);
  std::string kind() const override { return "zbl"; }
  std::string to_string() const override;
  std::vector<int> species() const override { return species_; }
  double cutoff() const override { return r_outer_; }
  bool interacts(int zi, int zj) const override;
  void pair(int zi, int zj, double r, double& phi, double& dphi) const override;
  // The unswitched ZBL energy and its first two derivatives (for tests and the switch).
  double energy(int zi, int zj, double r, double* d1 = nullptr, double* d2 = nullptr) const;

 private:
  double r_inner_, r_outer_, k_e_;
  std::vector<int> species_;  // empty: every species
};

class Dispersion final : public PairBaseline {
 public:
  explicit Dispersion(const Options& o);
  std::string kind() const override { return "dispersion"; }
  std::string to_string() const override;
  std::vector<int> species() const override;
  double cutoff() const override { return cutoff_; }
  bool interacts(int zi, int zj) const override { return c6_.count(zi) && c6_.count(zj); }
  void pair(int zi, int zj, double r, double& phi, double& dphi) const override;
  void check(const Structure& s) const override;

 private:
  enum class Damping { BeckeJohnson, TangToennies, None } damping_;
  std::map<int, double> c6_, r0_, b_;
  double s6_, a1_, a2_, cutoff_, width_;
};

class PairTable final : public PairBaseline {
 public:
  // From a LAMMPS table file: `table file=W.table keyword=WW species={W W}`.
  explicit PairTable(const Options& o);
  // By value (model files): r strictly increasing, energies and forces at those r.
  PairTable(std::pair<int, int> species, std::vector<double> r, std::vector<double> e, std::vector<double> f,
            std::string source);
  std::string kind() const override { return "table"; }
  std::string to_string() const override;
  std::vector<int> species() const override { return {species_.first, species_.second}; }
  double cutoff() const override { return r_.back(); }
  bool interacts(int zi, int zj) const override;
  void pair(int zi, int zj, double r, double& phi, double& dphi) const override;
  void check(const Structure& s) const override;
  const std::vector<double>& r() const { return r_; }
  const std::vector<double>& e() const { return e_; }
  const std::vector<double>& f() const { return f_; }
  std::pair<int, int> species_pair() const { return species_; }

 private:
  void validate() const;
  std::pair<int, int> species_;
  std::vector<double> r_, e_, f_;
  std::string source_;  // file and keyword it came from, for provenance and error messages
};

// Reads section `keyword` of a LAMMPS pair table file: r, e, f (r from the N/R/RSQ line if given).
struct TableSection {
  std::vector<double> r, e, f;
};
TableSection read_lammps_table(const std::string& path, const std::string& keyword);

}  // namespace soapgap
