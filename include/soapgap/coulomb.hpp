// Coulomb energy of fixed per-species charges, E = ½ k_e Σ_i Σ_j' q_i q_j g(r_ij) over all
// periodic images. Fully periodic cells: Ewald summation (real-space erfc sum, reciprocal sum,
// self term; a neutralising background only when asked for). Open boundaries: direct sum.
// Optional short-range damping g(r) = erf(r/w)/r, so charges can sit inside the learned region
// without the 1/r singularity (w = damping_width; 0 = plain 1/r).
#pragma once
#include <map>
#include <string>

#include "soapgap/baseline.hpp"
#include "soapgap/options.hpp"

namespace soapgap {

struct EwaldParameters {
  double alpha;     // splitting parameter, 1/Å
  double r_cut;     // real-space cutoff, Å
  double k_cut;     // reciprocal-space cutoff, 1/Å
};

class Coulomb final : public Baseline {
 public:
  explicit Coulomb(const Options& o);
  std::string kind() const override { return "coulomb"; }
  std::string to_string() const override;
  std::vector<int> species() const override;
  void add(const Structure& s, EnergyTerms& out) const override;
  // Splitting for this structure: α = √π (N/V²)^{1/6} (balances the real and reciprocal sums)
  // unless given, r_cut = √p/α, k_cut = 2α√p with p = −ln(accuracy).
  EwaldParameters ewald_parameters(const Structure& s) const;

 private:
  double charge_of(int z, const Structure& s) const;
  void add_direct(const Structure& s, const Eigen::VectorXd& q, EnergyTerms& out) const;
  void add_ewald(const Structure& s, const Eigen::VectorXd& q, EnergyTerms& out) const;
  std::map<int, double> charge_;
  double accuracy_, alpha_, r_cut_, damping_width_, k_e_;
  bool background_;
};

}  // namespace soapgap
