// Optimal assignment and entropy-regularised matching of two sets of environments, the
// reductions behind the best-match and REMatch structure kernels.
#pragma once
#include <vector>

#include "soapgap/structure.hpp"

namespace soapgap {

// Linear sum assignment: for an n x m cost matrix with n <= m, the columns col[i] (all distinct)
// that minimise sum_i cost(i, col[i]). Shortest augmenting paths with dual potentials
// (Jonker & Volgenant, Computing 38, 325 (1987); the rectangular form of Crouse,
// IEEE Trans. Aerosp. Electron. Syst. 52, 1679 (2016)); O(n² m). Throws on n > m or NaN.
std::vector<int> linear_sum_assignment(const RowMatrixXd& cost);

// Entropy-regularised optimal transport between uniform weights 1/n and 1/m with similarity C:
// the plan P = diag(u) exp(-(1 - C)/gamma) diag(v) whose row sums are 1/n and column sums 1/m
// (Sinkhorn iterations; Cuturi, NIPS 2013), and the REMatch kernel value sum_ij P_ij C_ij
// (De, Bartók, Csányi, Ceriotti, PCCP 18, 13754 (2016)).
struct RematchResult {
  double value = 0;           // sum_ij P_ij C_ij
  double marginal_error = 0;  // sum_i |rowsum_i - 1/n| (column sums are exact after each sweep)
  int iterations = 0;
  bool log_domain = false;    // true when the scaled iterations would under/overflow
};
struct RematchSettings {
  double gamma = 0.1;     // regularisation: gamma -> inf gives the average, gamma -> 0 the optimal transport
  double tolerance = 1e-10;
  int max_iterations = 100000;
};
// Throws soapgap::Error if the marginals have not converged after max_iterations.
RematchResult rematch(const RowMatrixXd& C, const RematchSettings& settings);
// The converged plan P itself (n x m), for tests and inspection.
RowMatrixXd rematch_plan(const RowMatrixXd& C, const RematchSettings& settings);

}  // namespace soapgap
