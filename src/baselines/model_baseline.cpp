#include "soapgap/model_baseline.hpp"

#include <filesystem>

#include "soapgap/error.hpp"
#include "soapgap/model_file.hpp"

namespace soapgap {

ModelBaseline::ModelBaseline(std::shared_ptr<const Potential> model, std::string source)
    : model_(std::move(model)), source_(std::move(source)) {
  if (!model_) throw Error("model baseline: no model");
}

void ModelBaseline::add(const Structure& s, EnergyTerms& out) const {
  PredictOptions opt;
  opt.forces = out.forces.rows() == s.size();
  opt.spectators = true;
  const Prediction p = model_->predict(s, opt);
  out.energies += p.energies;
  if (opt.forces) out.forces += p.forces;
  out.virial += p.virial;
}

std::shared_ptr<const Baseline> make_baseline(const std::string& spec) {
  const std::string t = strip_group(spec);
  const bool path_like = t.find(' ') == std::string::npos && t.find('=') == std::string::npos;
  if (path_like && (std::filesystem::exists(t) || t.ends_with(".json") || t.ends_with(".xml"))) {
    auto model = std::make_shared<const Potential>(load_potential(t));
    return std::make_shared<const ModelBaseline>(model, t);
  }
  return make_analytic_baseline(t);
}

}  // namespace soapgap
