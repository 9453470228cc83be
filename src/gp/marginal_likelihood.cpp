#include "soapgap/marginal_likelihood.hpp"

#include <cmath>
#include <sstream>

#include "soapgap/error.hpp"

namespace soapgap {

LikelihoodStatistics::LikelihoodStatistics(std::vector<int> columns, int terms)
    : term_of_column(std::move(columns)), n_terms(terms) {
  const Eigen::Index M = static_cast<Eigen::Index>(term_of_column.size());
  for (int k = 0; k < kKinds; ++k) {
    G[k] = Eigen::MatrixXd::Zero(M, M);
    h[k] = Eigen::VectorXd::Zero(M);
  }
}

void LikelihoodStatistics::add(const Eigen::Ref<const Eigen::MatrixXd>& A, const Eigen::Ref<const Eigen::VectorXd>& b,
                               const std::vector<int>& kind, const std::vector<double>& sigma) {
  for (int k = 0; k < kKinds; ++k) {
    std::vector<Eigen::Index> rows;
    for (size_t r = 0; r < kind.size(); ++r)
      if (kind[r] == k) rows.push_back(static_cast<Eigen::Index>(r));
    if (rows.empty()) continue;
    const Eigen::MatrixXd Ak = A(rows, Eigen::all);
    const Eigen::VectorXd bk = b(rows);
    G[k].selfadjointView<Eigen::Lower>().rankUpdate(Ak.transpose());
    h[k] += Ak.transpose() * bk;
    c[k] += bk.squaredNorm();
    n[k] += static_cast<long>(rows.size());
    for (Eigen::Index r : rows) log_lambda += 2.0 * std::log(sigma[r]);
  }
}

void LikelihoodStatistics::whiten(const Eigen::MatrixXd& L) {
  const auto lower = L.triangularView<Eigen::Lower>();
  for (int k = 0; k < kKinds; ++k) {
    Eigen::MatrixXd g = G[k].selfadjointView<Eigen::Lower>();
    lower.solveInPlace(g);                                 // L⁻¹ G
    g.transposeInPlace();
    lower.solveInPlace(g);                                 // L⁻¹ (L⁻¹G)ᵀ = L⁻¹ G L⁻ᵀ
    G[k] = 0.5 * (g + g.transpose());
    lower.solveInPlace(h[k]);
  }
}

double log_marginal_likelihood(const LikelihoodStatistics& st, const Eigen::VectorXd& theta, Eigen::VectorXd* gradient) {
  const int T = st.n_terms, K = LikelihoodStatistics::kKinds;
  const Eigen::Index M = static_cast<Eigen::Index>(st.term_of_column.size());
  if (theta.size() != T + K) throw Error("marginal likelihood: expected " + std::to_string(T + K) + " hyperparameters");
  Eigen::VectorXd sqrt_a(M);  // D^½ per column
  for (Eigen::Index m = 0; m < M; ++m) sqrt_a[m] = std::exp(0.5 * theta[st.term_of_column[m]]);
  Eigen::MatrixXd Bsum = Eigen::MatrixXd::Zero(M, M);
  Eigen::VectorXd bsum = Eigen::VectorXd::Zero(M);
  double c = 0.0, logdet_lambda = st.log_lambda;
  for (int k = 0; k < K; ++k) {
    if (st.n[k] == 0) continue;
    const double s = std::exp(theta[T + k]);
    Bsum += st.G[k] / s;
    bsum += st.h[k] / s;
    c += st.c[k] / s;
    logdet_lambda += st.n[k] * theta[T + k];
  }
  Eigen::MatrixXd A = sqrt_a.asDiagonal() * Bsum * sqrt_a.asDiagonal();  // B(θ)
  const Eigen::VectorXd beta_rhs = sqrt_a.asDiagonal() * bsum;
  A.diagonal().array() += 1.0;
  const Eigen::LLT<Eigen::MatrixXd> llt(A);
  if (llt.info() != Eigen::Success) throw Error("marginal likelihood: I + B is not positive definite (non-finite statistics?)");
  const Eigen::VectorXd beta = llt.solve(beta_rhs);
  const double logdet_A = 2.0 * llt.matrixL().toDenseMatrix().diagonal().array().log().sum();
  const double N = static_cast<double>(st.rows());
  const double value = -0.5 * (c - beta_rhs.dot(beta)) - 0.5 * (logdet_lambda + logdet_A) - 0.5 * N * std::log(2 * M_PI);
  if (gradient) {
    gradient->setZero(T + K);
    const Eigen::MatrixXd Phi = llt.solve(Eigen::MatrixXd::Identity(M, M));  // (I + B)⁻¹
    // ∂/∂log a_t = ½|P_t β|² − ½(M_t − tr P_t Φ)
    for (Eigen::Index m = 0; m < M; ++m)
      (*gradient)[st.term_of_column[m]] += 0.5 * beta[m] * beta[m] - 0.5 * (1.0 - Phi(m, m));
    // ∂/∂log s_k = ½c_k/s_k − βᵀb̂_k + ½βᵀB̂_kβ − ½n_k + ½ tr(Φ B̂_k),  B̂_k = D^½B_kD^½/s_k, b̂_k = D^½b_k/s_k
    const Eigen::VectorXd db = sqrt_a.asDiagonal() * beta;  // D^½ β
    const Eigen::MatrixXd Phi_s = sqrt_a.asDiagonal() * Phi * sqrt_a.asDiagonal();
    for (int k = 0; k < K; ++k) {
      if (st.n[k] == 0) continue;
      const double s = std::exp(theta[T + k]);
      const double quad = db.dot(st.G[k] * db) / s;
      const double trace = (Phi_s.array() * st.G[k].array()).sum() / s;
      (*gradient)[T + k] = 0.5 * st.c[k] / s - db.dot(st.h[k]) / s + 0.5 * quad - 0.5 * st.n[k] + 0.5 * trace;
    }
  }
  return value;
}

HyperOptimum maximise_marginal_likelihood(const LikelihoodStatistics& st, int max_iterations,
                                          const std::function<void(const std::string&)>& log) {
  const int P = st.n_terms + LikelihoodStatistics::kKinds;
  Eigen::VectorXd free = Eigen::VectorXd::Ones(P);  // kinds without rows stay fixed
  for (int k = 0; k < LikelihoodStatistics::kKinds; ++k)
    if (st.n[k] == 0) free[st.n_terms + k] = 0.0;
  auto evaluate = [&](const Eigen::VectorXd& x, Eigen::VectorXd& g) {
    const double v = log_marginal_likelihood(st, x, &g);
    g = -g.cwiseProduct(free);
    return -v;  // minimise −log p
  };
  HyperOptimum out;
  Eigen::VectorXd x = Eigen::VectorXd::Zero(P), g(P);
  double f = evaluate(x, g);
  if (!std::isfinite(f) || !g.allFinite())
    throw Error("marginal likelihood is not finite at the given hyperparameters: check the data for non-finite "
                "values, or increase sparse_jitter");
  out.initial = -f;
  Eigen::MatrixXd H = Eigen::MatrixXd::Identity(P, P);  // inverse Hessian estimate
  const double scale = std::max(1.0, static_cast<double>(st.rows()));
  int it = 0;
  for (; it < max_iterations; ++it) {
    if (g.cwiseAbs().maxCoeff() < 1e-6 * scale) break;
    Eigen::VectorXd p = -H * g;
    if (g.dot(p) >= 0) {  // not a descent direction: restart from steepest descent
      H.setIdentity();
      p = -g;
    }
    // at most a factor e² per step in any scale: the first steps of a badly scaled start stay sane
    const double longest = p.cwiseAbs().maxCoeff();
    if (longest > 2.0) p *= 2.0 / longest;
    double step = 1.0, f_new = 0.0;
    Eigen::VectorXd x_new, g_new(P);
    for (int ls = 0;; ++ls) {
      x_new = x + step * p;
      f_new = evaluate(x_new, g_new);
      if (std::isfinite(f_new) && f_new <= f + 1e-4 * step * g.dot(p)) break;
      if (ls == 40) throw Error("marginal likelihood: the line search failed (no increase along the search direction)");
      step *= 0.5;
    }
    const Eigen::VectorXd s = x_new - x, y = g_new - g;
    const double sy = s.dot(y);
    if (sy > 1e-12 * s.norm() * y.norm()) {  // BFGS update of the inverse Hessian
      const Eigen::MatrixXd I = Eigen::MatrixXd::Identity(P, P);
      H = (I - s * y.transpose() / sy) * H * (I - y * s.transpose() / sy) + s * s.transpose() / sy;
    }
    const double change = f - f_new;
    x = x_new, g = g_new, f = f_new;
    if (log) {
      std::ostringstream m;
      m.precision(10);
      m << "[hypers] iteration " << it + 1 << ": log likelihood " << -f << ", |gradient| " << g.cwiseAbs().maxCoeff();
      log(m.str());
    }
    if (change >= 0 && change < 1e-10 * scale && g.cwiseAbs().maxCoeff() < 1e-3 * scale) break;
  }
  if (it == max_iterations)
    throw Error("marginal likelihood: no convergence in " + std::to_string(max_iterations) +
                " iterations; start from hyperparameters closer to the data (delta, default_sigma)");
  for (int j = 0; j < P; ++j)
    if (std::abs(x[j]) > std::log(1e12))
      throw Error("marginal likelihood: a hyperparameter ran away (scale " + std::to_string(std::exp(0.5 * x[j])) +
                  " of its start): the data do not determine it; fix it or add data of that kind");
  out.theta = x;
  out.log_likelihood = -f;
  out.iterations = it;
  return out;
}

}  // namespace soapgap
