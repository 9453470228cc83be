#include "soapgap/hyperparameters.hpp"

#include <array>
#include <cmath>
#include <sstream>

#include "soapgap/error.hpp"

namespace soapgap {

namespace {

// The gap term with its delta multiplied by `factor` (QUIP's alias energy_scale kept if used).
std::string scale_delta(const std::string& term, double factor) {
  Options o = Options::parse(term, "gap term");
  const char* key = o.has("energy_scale") && !o.has("delta") ? "energy_scale" : "delta";
  std::ostringstream v;
  v.precision(17);
  v << o.require_double({"delta", "energy_scale"}) * factor;
  o.set(key, v.str());
  return o.str();
}

void check_supported(const FitOptions& opt) {
  if (opt.comm && opt.comm->distributed()) throw Error("hyperparameter optimisation runs on one rank (no MPI yet)");
  if (opt.fitc)
    throw Error("hyperparameter optimisation maximises the DTC likelihood: drop fitc, or refit with fitc at the "
                "values it finds");
  if (!opt.sigma_prefix.empty())
    throw Error("hyperparameter optimisation scales default_sigma and config_type_sigma; per-frame sigmas "
                "(sigma_prefix) are not supported with it");
  for (const auto& term : opt.gap) {
    const Options o = Options::parse(term, "gap term");
    if (o.get_double({"f0"}, 0.0) != 0.0)
      throw Error("hyperparameter optimisation needs kernels proportional to delta² (f0=0): " + term);
  }
}

}  // namespace

HyperparameterFit fit_with_optimised_hyperparameters(const std::vector<Structure>& frames, const FitOptions& opt,
                                                     NoiseGroups noise) {
  const auto log = [&](const std::string& m) {
    if (opt.log) opt.log(m);
  };
  check_supported(opt);
  HyperparameterFit out;
  LikelihoodStatistics st;
  st.noise = noise;
  FitOptions first = opt;
  first.statistics = &st;
  log("[hypers] fit at the starting hyperparameters");
  fit(frames, first);
  out.optimum = maximise_marginal_likelihood(st, 200, opt.log);
  const Eigen::VectorXd& x = out.optimum.theta;
  const int T = st.n_terms;
  out.options = opt;
  out.options.statistics = nullptr;
  std::ostringstream m;
  m.precision(6);
  m << "[hypers] log marginal likelihood " << out.optimum.initial << " -> " << out.optimum.log_likelihood << " in "
    << out.optimum.iterations << " iterations;";
  for (int t = 0; t < T; ++t) {
    out.options.gap[t] = scale_delta(opt.gap[t], std::exp(0.5 * x[t]));
    m << " delta[" << t + 1 << "] " << Options::parse(out.options.gap[t]).require_double({"delta", "energy_scale"});
  }
  const char* kind[3] = {"energy", "force", "virial"};
  if (noise != NoiseGroups::PerConfigType) {
    for (int k = 0; k < 3; ++k) {
      const double f = std::exp(0.5 * x[T + st.group(k, "")]);
      out.options.default_sigma[k] *= f;
      for (auto& [ct, sg] : out.options.config_type_sigma) sg[k] *= f;
      m << " sigma_" << kind[k] << " " << out.options.default_sigma[k];
    }
  } else {
    for (const auto& ct : st.config_types) {
      const auto given = opt.config_type_sigma.find(ct);
      std::array<double, 3> sg = given != opt.config_type_sigma.end() ? given->second : opt.default_sigma;
      m << "\n[hypers]   " << ct << ":";
      for (int k = 0; k < 3; ++k) {
        const int g = st.group(k, ct);
        sg[k] *= std::exp(0.5 * x[T + g]);
        if (st.n[g] > 0) m << " sigma_" << kind[k] << " " << sg[k];
      }
      out.options.config_type_sigma[ct] = sg;
    }
  }
  log(m.str());
  LikelihoodStatistics check;
  FitOptions final_opt = out.options;
  final_opt.statistics = &check;
  log("[hypers] refit at the optimum");
  check.noise = noise;
  out.model = fit(frames, final_opt);
  out.refit_log_likelihood = log_marginal_likelihood(check, Eigen::VectorXd::Zero(T + check.groups()));
  std::ostringstream c;
  c.precision(10);
  c << "[hypers] log marginal likelihood of the refit: " << out.refit_log_likelihood;
  log(c.str());
  out.model.metadata["hyperparameters"] = "marginal likelihood (DTC)";
  out.model.metadata["log_marginal_likelihood"] = std::to_string(out.refit_log_likelihood);
  return out;
}

}  // namespace soapgap
