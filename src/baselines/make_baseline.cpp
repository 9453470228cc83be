#include "soapgap/coulomb.hpp"
#include "soapgap/error.hpp"
#include "soapgap/pair_baselines.hpp"

namespace soapgap {

std::shared_ptr<const Baseline> make_analytic_baseline(const std::string& spec) {
  const Options o = Options::parse(spec, "baseline '" + excerpt(spec) + "'");
  const std::string& k = o.name();
  if (k == "zbl") return std::make_shared<const Zbl>(o);
  if (k == "coulomb") return std::make_shared<const Coulomb>(o);
  if (k == "dispersion") return std::make_shared<const Dispersion>(o);
  if (k == "table") return std::make_shared<const PairTable>(o);
  throw Error(o.context() + ": unknown baseline kind '" + excerpt(k) +
              "' (zbl, coulomb, dispersion, table, or the path of a model file)");
}

}  // namespace soapgap
