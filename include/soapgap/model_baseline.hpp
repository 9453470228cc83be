// A fitted model (soapgap .json or QUIP/GAP .xml) used as a baseline: a GAP fitted on top of it
// learns the residual, and the saved model carries it by value. Atoms of species the baseline
// model does not know are spectators (no e0, no energy) provided none of its descriptors sees
// them: a W model whose SOAP and 2b terms list W only is evaluated unchanged on W–He frames.
#pragma once
#include <memory>
#include <string>

#include "soapgap/baseline.hpp"
#include "soapgap/potential.hpp"

namespace soapgap {

class ModelBaseline final : public Baseline {
 public:
  ModelBaseline(std::shared_ptr<const Potential> model, std::string source);
  std::string kind() const override { return "model"; }
  std::string to_string() const override { return "model source={" + source_ + "}"; }
  std::vector<int> species() const override { return model_->species(); }
  void add(const Structure& s, EnergyTerms& out) const override;
  const Potential& model() const { return *model_; }
  const std::string& source() const { return source_; }

 private:
  std::shared_ptr<const Potential> model_;
  std::string source_;
};

// A baseline from a command-line/API spec: a path to a model file (.json, .xml), or an analytic
// term's option string (`zbl r_inner=1 r_outer=2`, `coulomb species={Na Cl} charges={1 -1}`, ...).
std::shared_ptr<const Baseline> make_baseline(const std::string& spec);

}  // namespace soapgap
