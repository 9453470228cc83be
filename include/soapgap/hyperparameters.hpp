// Hyperparameters by maximising the sparse GP's log marginal likelihood (marginal_likelihood.hpp):
// a fit at the given hyperparameters collects the statistics, BFGS finds the signal scale δ of
// every gap term and the noise σ (one scale for all sigmas, one per observation kind, or one per
// kind and config_type), and the model is refitted there.
#pragma once
#include "soapgap/fit.hpp"

namespace soapgap {

struct HyperparameterFit {
  Potential model;      // fitted at the optimum
  FitOptions options;   // the options with the optimised delta (gap strings) and sigmas
  HyperOptimum optimum;
  double refit_log_likelihood = 0.0;  // recomputed from the refit's own rows (a check of the optimum)
};

// noise: which sigmas share a scale (marginal_likelihood.hpp); per config_type they are written
// as config_type_sigma. force_bins > 1: the force sigma also gets one scale per bin of the
// reference |F| (bins of equal counts over the training atoms), written as opt.force_noise.
HyperparameterFit fit_with_optimised_hyperparameters(const std::vector<Structure>& frames, const FitOptions& opt,
                                                     NoiseGroups noise = NoiseGroups::PerKind, int force_bins = 1);

// Edges of `bins` bins of equal counts of the reference |F| of the training atoms (|F| > 1e-6 eV/Å).
std::vector<double> force_quantile_edges(const std::vector<Structure>& frames, const FitOptions& opt, int bins);

}  // namespace soapgap
