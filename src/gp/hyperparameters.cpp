#include "soapgap/hyperparameters.hpp"

#include <algorithm>
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

std::vector<double> force_quantile_edges(const std::vector<Structure>& frames, const FitOptions& opt, int bins) {
  std::vector<double> f;
  FitOptions plain = opt;
  plain.force_noise = {};
  for (const auto& s : frames) {
    const FrameTargets t = frame_targets(s, plain);
    // forces zero by symmetry (perfect crystals) are left out: their rows carry no information
    // about the noise (marginal_likelihood.hpp) and would make a bin of their own
    if (t.has_forces && s.size() > 1)
      for (int i = 0; i < s.size(); ++i)
        if (t.forces.row(i).norm() > 1e-6) f.push_back(t.forces.row(i).norm());
  }
  if (f.size() < static_cast<size_t>(10 * bins))
    throw Error("force noise bins: " + std::to_string(bins) + " bins need at least " + std::to_string(10 * bins) +
                " atoms with reference forces, the training set has " + std::to_string(f.size()));
  std::sort(f.begin(), f.end());
  std::vector<double> edges;
  for (int b = 1; b < bins; ++b) {
    const double e = f[f.size() * b / bins];
    if (!edges.empty() && !(e > edges.back()))
      throw Error("force noise bins: too many bins for the spread of the reference forces (" + std::to_string(bins) +
                  " asked; equal |F| quantiles)");
    edges.push_back(e);
  }
  return edges;
}

HyperparameterFit fit_with_optimised_hyperparameters(const std::vector<Structure>& frames, const FitOptions& opt,
                                                     NoiseGroups noise, int force_bins) {
  const auto log = [&](const std::string& m) {
    if (opt.log) opt.log(m);
  };
  check_supported(opt);
  if (force_bins < 1) throw Error("force noise bins: at least 1");
  if (force_bins > 1 && noise == NoiseGroups::PerConfigType)
    throw Error("force noise bins are not combined with per_config_type noise groups: use per_kind or common");
  if (force_bins > 1 && !opt.force_noise.empty())
    throw Error("force noise bins are given (force_noise) and asked for (force_bins): give one of the two");
  HyperparameterFit out;
  LikelihoodStatistics st;
  st.noise = noise;
  st.force_bins = force_bins;
  FitOptions first = opt;
  first.statistics = &st;
  if (force_bins > 1) {
    first.force_noise.edges = force_quantile_edges(frames, opt, force_bins);
    first.force_noise.factors.assign(force_bins, 1.0);
  }
  log("[hypers] fit at the starting hyperparameters");
  fit(frames, first);
  if (st.fitc) {
    std::ostringstream m;
    m.precision(3);
    m << "[hypers] FITC: " << st.rows() << " rows kept for the search ("
      << 16.0 * static_cast<double>(st.rows()) * static_cast<double>(st.term_of_column.size()) / 1e6
      << " MB), refolded at every step";
    log(m.str());
  }
  out.optimum = maximise_marginal_likelihood(st, 200, opt.log);
  const Eigen::VectorXd& x = out.optimum.theta;
  const int T = st.n_terms;
  out.options = first;
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
    if (force_bins > 1) {
      // bin 0 is the force group scaled above; the others relative to it
      const auto& edges = first.force_noise.edges;
      m << "\n[hypers]   sigma_force by reference |F| (eV/Å):";
      for (int b = 0; b < force_bins; ++b) {
        out.options.force_noise.factors[b] = std::exp(0.5 * (x[T + st.group(1, "", b)] - x[T + st.group(1, "")]));
        m << (b == 0 ? " below " + std::to_string(edges[0]) : "; from " + std::to_string(edges[b - 1])) << ": "
          << out.options.default_sigma[1] * out.options.force_noise.factors[b];
      }
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
  check.force_bins = force_bins;
  out.model = fit(frames, final_opt);
  out.refit_log_likelihood = log_marginal_likelihood(check, Eigen::VectorXd::Zero(T + check.groups()));
  std::ostringstream c;
  c.precision(10);
  c << "[hypers] log marginal likelihood of the refit: " << out.refit_log_likelihood;
  log(c.str());
  out.model.metadata["hyperparameters"] = opt.fitc ? "marginal likelihood (FITC)" : "marginal likelihood (DTC)";
  out.model.metadata["log_marginal_likelihood"] = std::to_string(out.refit_log_likelihood);
  return out;
}

}  // namespace soapgap
