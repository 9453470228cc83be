// Baselines: energy terms added to the learned local energies and fitted around (the GAP learns
// reference − baseline). Analytic terms (Coulomb/Ewald, dispersion, ZBL, tabulated pairs) and
// earlier models. Each adds per-atom energies, forces and the virial W = −∂E/∂ε (eV).
#pragma once
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "soapgap/structure.hpp"

namespace soapgap {

// Contributions accumulated by baselines (and by the GAP terms of a model used as a baseline).
struct EnergyTerms {
  Eigen::VectorXd energies;   // per atom, eV
  Positions forces;           // eV/Å (empty when forces are not requested)
  Eigen::Matrix3d virial = Eigen::Matrix3d::Zero();
  static EnergyTerms zeros(int n, bool forces) {
    EnergyTerms t;
    t.energies = Eigen::VectorXd::Zero(n);
    if (forces) t.forces = Positions::Zero(n, 3);
    return t;
  }
};

class Baseline {
 public:
  virtual ~Baseline() = default;
  virtual std::string kind() const = 0;
  // Option string that reconstructs the term (tables and models also carry data: model_file.cpp).
  virtual std::string to_string() const = 0;
  // Species the term has parameters for; empty when it applies to every species (ZBL).
  virtual std::vector<int> species() const = 0;
  // Adds this term's energies, forces (if out.forces is sized) and virial for s. Throws naming the
  // frame for a species without parameters or any other input it cannot evaluate.
  virtual void add(const Structure& s, EnergyTerms& out) const = 0;
};

// e²/(4πε₀) in eV·Å (CODATA 2018). LAMMPS `units metal` uses 14.399645.
inline constexpr double kCoulombConstant = 14.3996454784255;

// A baseline from an option string: `zbl ...`, `coulomb ...`, `dispersion ...`, `table ...`
// (keys documented in docs/baselines.md). Model files as baselines: model_baseline.hpp.
std::shared_ptr<const Baseline> make_analytic_baseline(const std::string& spec);

// Species lists in option strings: symbols or atomic numbers ("{Na Cl}", "{11 17}").
std::vector<int> parse_species_list(const std::string& text, const std::string& context);
class Options;
// One value per species from `key` (a list parallel to `species`); empty if absent and not required.
std::map<int, double> species_values(const Options& o, const std::vector<int>& species, const char* key, bool required,
                                     bool non_negative);

}  // namespace soapgap
