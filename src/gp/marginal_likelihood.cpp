#include "soapgap/marginal_likelihood.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <sstream>

#include "soapgap/error.hpp"
#include "soapgap/streaming_qr.hpp"

namespace soapgap {

NoiseGroups parse_noise_groups(const std::string& name) {
  if (name == "common") return NoiseGroups::Common;
  if (name == "per_kind") return NoiseGroups::PerKind;
  if (name == "per_config_type") return NoiseGroups::PerConfigType;
  throw Error("noise groups '" + name + "': use common, per_kind or per_config_type");
}

LikelihoodStatistics::LikelihoodStatistics(std::vector<int> columns, int terms, NoiseGroups groups,
                                           std::vector<std::string> cts, int bins)
    : noise(groups), config_types(std::move(cts)), force_bins(bins), term_of_column(std::move(columns)), n_terms(terms) {
  if (force_bins < 1) throw Error("marginal likelihood: force_bins must be at least 1");
  if (force_bins > 1 && noise == NoiseGroups::PerConfigType)
    throw Error("marginal likelihood: force noise bins are not combined with per_config_type noise groups");
  const int G = (noise == NoiseGroups::Common    ? 1
                 : noise == NoiseGroups::PerKind ? kKinds
                                                 : kKinds * static_cast<int>(config_types.size())) +
                force_bins - 1;
  R.assign(G, Eigen::MatrixXd());  // allocated with a group's first row: empty groups cost nothing
  q.assign(G, Eigen::VectorXd());
  rho.assign(G, 0.0);
  n.assign(G, 0);
}

int LikelihoodStatistics::group(int kind, const std::string& config_type, int force_bin) const {
  if (kind == 1 && force_bin > 0) {
    if (force_bin >= force_bins) throw Error("marginal likelihood: force bin " + std::to_string(force_bin) + " out of range");
    return groups() - force_bins + force_bin;
  }
  if (noise == NoiseGroups::Common) return 0;
  if (noise == NoiseGroups::PerKind) return kind;
  const auto it = std::find(config_types.begin(), config_types.end(), config_type);
  if (it == config_types.end()) throw Error("marginal likelihood: config_type '" + config_type + "' has no noise group");
  return kind + kKinds * static_cast<int>(it - config_types.begin());
}

void LikelihoodStatistics::add_fitc(const Eigen::Ref<const Eigen::MatrixXd>& K, const Eigen::Ref<const Eigen::VectorXd>& y,
                                    const std::vector<int>& group, const std::vector<double>& sigma,
                                    const Eigen::Ref<const RowMatrixXd>& term_prior) {
  const Eigen::Index M = static_cast<Eigen::Index>(term_of_column.size());
  if (kmm_vectors.rows() != M) throw Error("marginal likelihood (FITC): K_mm's eigenvectors must be set before rows are added");
  const double scale = Kmm.diagonal().cwiseAbs().maxCoeff();
  std::vector<Eigen::Index> keep;  // as add(): rows that say nothing about the hyperparameters are left out
  for (Eigen::Index r = 0; r < K.rows(); ++r)
    if (K.row(r).cwiseAbs().maxCoeff() > 1e-10 * scale) keep.push_back(r);
  if (keep.empty()) return;
  FitcBlock blk;
  blk.K = K(keep, Eigen::all);
  blk.z2 = (blk.K * kmm_vectors).array().square();
  blk.prior = term_prior(keep, Eigen::all);
  blk.y = y(keep);
  blk.sigma2.resize(static_cast<Eigen::Index>(keep.size()));
  for (size_t i = 0; i < keep.size(); ++i) {
    blk.sigma2[static_cast<Eigen::Index>(i)] = sigma[keep[i]] * sigma[keep[i]];
    blk.group.push_back(group[keep[i]]);
    ++n[group[keep[i]]];
  }
  fitc_blocks.push_back(std::move(blk));
}

long LikelihoodStatistics::rows() const {
  long total = 0;
  for (long c : n) total += c;
  return total;
}

void LikelihoodStatistics::add(const Eigen::Ref<const Eigen::MatrixXd>& A, const Eigen::Ref<const Eigen::VectorXd>& b,
                               const std::vector<int>& group, const std::vector<double>& sigma) {
  const int M = static_cast<int>(term_of_column.size());
  if (Kmm.rows() != M) throw Error("marginal likelihood: K_mm must be set before rows are added");
  const double scale = Kmm.diagonal().cwiseAbs().maxCoeff();
  for (int k = 0; k < groups(); ++k) {
    std::vector<Eigen::Index> rows;
    // rows whose covariance with every sparse point vanishes to round-off (the forces on an
    // isolated atom, forces in a perfect crystal) say nothing about the hyperparameters, and their targets,
    // zero by symmetry, would let the likelihood grow without bound as their σ → 0
    for (size_t r = 0; r < group.size(); ++r)
      if (group[r] == k && A.row(static_cast<Eigen::Index>(r)).cwiseAbs().maxCoeff() * sigma[r] > 1e-10 * scale)
        rows.push_back(static_cast<Eigen::Index>(r));
    if (rows.empty()) continue;
    n[k] += static_cast<long>(rows.size());
    for (Eigen::Index r : rows) log_lambda += 2.0 * std::log(sigma[r]);
    if (R[k].size() == 0) {
      R[k] = Eigen::MatrixXd::Zero(M, M);
      q[k] = Eigen::VectorXd::Zero(M);
    }
    StreamingQR qr(R[k], M, q[k]);  // fold the rows into this kind's factor
    qr.add(A(rows, Eigen::all), b(rows));
    TriangularFactor f = qr.finish();
    R[k] = std::move(f.R);
    q[k] = std::move(f.qtb);
    rho[k] += f.residual2;
  }
}

Eigen::VectorXd signal_gradient(const Eigen::MatrixXd& Rth, const Eigen::MatrixXd& Lth, const Eigen::VectorXd& alpha,
                                const std::vector<int>& term_of_column, int n_terms, double j) {
  const Eigen::Index M = Rth.rows();
  const auto R = Rth.triangularView<Eigen::Upper>();
  const Eigen::VectorXd beta = Lth.transpose() * alpha;  // whitened: L(θ)ᵀα
  const Eigen::MatrixXd Y = R.transpose().solve(Lth);    // R⁻ᵀL(θ): (I+B)⁻¹ = YᵀY
  // ∂/∂log a_t = ½ Σ_{m∈t} (β_m² + j α_m²) − ½ Σ_{m∈t} (1 − [(I+B)⁻¹]_mm − j Σ_mm + j [K_mm(θ)⁻¹]_mm):
  // ∂K_mm(θ)/∂log a_t is its block t without the jitter j, Σ = (K_mm + G)⁻¹ = R⁻¹R⁻ᵀ
  const Eigen::MatrixXd Rinv = R.solve(Eigen::MatrixXd::Identity(M, M));
  const Eigen::MatrixXd Linv = Lth.triangularView<Eigen::Lower>().solve(Eigen::MatrixXd::Identity(M, M));
  Eigen::VectorXd g = Eigen::VectorXd::Zero(n_terms);
  for (Eigen::Index m = 0; m < M; ++m)
    g[term_of_column[m]] += 0.5 * (beta[m] * beta[m] + j * alpha[m] * alpha[m]) -
                            0.5 * (1.0 - Y.col(m).squaredNorm() - j * Rinv.row(m).squaredNorm() +
                                   j * Linv.col(m).squaredNorm());
  return g;
}

double log_marginal_likelihood(const LikelihoodStatistics& st, const Eigen::VectorXd& theta, Eigen::VectorXd* gradient) {
  if (st.fitc) return fitc_log_marginal_likelihood(st, theta, gradient);
  const int T = st.n_terms, K = st.groups();
  const Eigen::Index M = static_cast<Eigen::Index>(st.term_of_column.size());
  if (theta.size() != T + K) throw Error("marginal likelihood: expected " + std::to_string(T + K) + " hyperparameters");
  Eigen::VectorXd a(M);  // D per column
  for (Eigen::Index m = 0; m < M; ++m) a[m] = std::exp(theta[st.term_of_column[m]]);
  const Eigen::VectorXd sqrt_a = a.cwiseSqrt();
  Eigen::MatrixXd Kth = sqrt_a.asDiagonal() * st.Kmm * sqrt_a.asDiagonal();
  Kth.diagonal().array() += st.jitter;
  const Eigen::LLT<Eigen::MatrixXd> kmm(Kth);
  if (kmm.info() != Eigen::Success) throw Error("marginal likelihood: K_mm is not positive definite; increase sparse_jitter");
  const Eigen::MatrixXd Lth = kmm.matrixL();  // K_mm(θ) = L(θ)L(θ)ᵀ
  // the factor of [R_k D/√s_k, q_k/√s_k, √(ρ_k/s_k) (every group); L(θ)ᵀ, 0, 0] by merging the
  // augmented triangles one by one (LAPACK dtpqrt, BLAS threads); its corner holds the whole
  // residual Σ_k ρ_k/s_k + r²(θ)
  Eigen::MatrixXd Raug = Eigen::MatrixXd::Zero(M + 1, M + 1), next(M + 1, M + 1);
  Raug.topLeftCorner(M, M) = Lth.transpose();
  double logdet_lambda = st.log_lambda;
  for (int k = 0; k < K; ++k) {
    if (st.n[k] == 0) continue;
    const double s = std::exp(theta[T + k]);
    next.setZero();
    next.topLeftCorner(M, M) = st.R[k] * a.asDiagonal() / std::sqrt(s);
    next.col(M).head(M) = st.q[k] / std::sqrt(s);
    next(M, M) = std::sqrt(std::max(0.0, st.rho[k]) / s);
    merge_triangles(Raug, next);
    logdet_lambda += st.n[k] * theta[T + k];
  }
  const Eigen::MatrixXd Rth = Raug.topLeftCorner(M, M);
  const auto R = Rth.triangularView<Eigen::Upper>();
  const double residual = Raug(M, M) * Raug(M, M);  // yᵀ(Q+Λ)⁻¹y
  const double logdet_A = 2.0 * Rth.diagonal().cwiseAbs().array().log().sum();
  const double logdet_Kmm = 2.0 * Lth.diagonal().array().log().sum();
  const double N = static_cast<double>(st.rows());
  const double value = -0.5 * residual - 0.5 * (logdet_lambda + logdet_A - logdet_Kmm) - 0.5 * N * std::log(2 * M_PI);
  if (gradient) {
    gradient->setZero(T + K);
    const Eigen::VectorXd alpha = R.solve(Raug.col(M).head(M));  // the weights at θ
    gradient->head(T) = signal_gradient(Rth, Lth, alpha, st.term_of_column, T, st.jitter);
    // ∂/∂log s_k = ½|A_k D α − b_k|²/s_k − ½n_k + ½|R_k D R⁻¹|²_F/s_k,  |A_kDα − b_k|² = |R_kDα − q_k|² + ρ_k
    const Eigen::VectorXd Da = a.cwiseProduct(alpha);
    for (int k = 0; k < K; ++k) {
      if (st.n[k] == 0) continue;
      const double s = std::exp(theta[T + k]);
      const Eigen::MatrixXd X = R.transpose().solve((st.R[k] * a.asDiagonal()).transpose());  // (R_k D R⁻¹)ᵀ
      const double misfit = (st.R[k] * Da - st.q[k]).squaredNorm() + st.rho[k];
      (*gradient)[T + k] = 0.5 * misfit / s - 0.5 * st.n[k] + 0.5 * X.squaredNorm() / s;
    }
  }
  return value;
}

HyperOptimum maximise_marginal_likelihood(const LikelihoodStatistics& st, int max_iterations,
                                          const std::function<void(const std::string&)>& log) {
  const int P = st.n_terms + st.groups();  // groups without rows stay at 0: their gradient is 0
  auto evaluate = [&](const Eigen::VectorXd& x, Eigen::VectorXd& g) {
    double v = 0.0;
    try {
      v = log_marginal_likelihood(st, x, &g);
    } catch (const Error&) {  // K_mm(θ) lost definiteness far from the start: the line search backs off
      g.setZero(P);
      return std::numeric_limits<double>::infinity();
    }
    g = -g;
    return -v;  // minimise −log p
  };
  if (st.rows() == 0)
    throw Error("marginal likelihood: no training row depends on the sparse points (forces on isolated atoms or "
                "in perfect crystals only): the data say nothing about the hyperparameters");
  HyperOptimum out;
  Eigen::VectorXd x = Eigen::VectorXd::Zero(P), g(P);
  double f = evaluate(x, g);
  if (!std::isfinite(f) || !g.allFinite())
    throw Error("marginal likelihood is not finite at the given hyperparameters: check the data for non-finite "
                "values, or increase sparse_jitter");
  out.initial = -f;
  Eigen::MatrixXd H = Eigen::MatrixXd::Identity(P, P);  // inverse Hessian estimate
  const double scale = std::max(1.0, static_cast<double>(st.rows()));
  int it = 0, steps = 0;
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
    bool improved = false;
    for (int ls = 0; ls <= 40 && !improved; ++ls, step *= 0.5) {
      x_new = x + step * p;
      f_new = evaluate(x_new, g_new);
      improved = std::isfinite(f_new) && f_new <= f + 1e-4 * step * g.dot(p);
    }
    if (!improved) {
      // no step improves log p: at its round-off floor if the gradient is small on the scale of
      // log p itself (hyperparameters then move by far less than their uncertainty)
      if (g.cwiseAbs().maxCoeff() < 1e-4 * std::max(1.0, std::abs(f))) break;
      std::ostringstream m;
      m.precision(4);
      m << "marginal likelihood: the line search failed at |gradient| " << g.cwiseAbs().maxCoeff()
        << " with delta scaled by";
      for (int t = 0; t < st.n_terms; ++t) m << " " << std::exp(0.5 * x[t]);
      m << " and sigmas by";
      for (int k = 0; k < st.groups(); ++k) m << " " << std::exp(0.5 * x[st.n_terms + k]);
      m << ". If a delta grows without bound the data are not centred (choose e0, e.g. e0_method=average) or "
           "K_mm + sparse_jitter limits it (increase sparse_jitter)";
      throw Error(m.str());
    }
    const Eigen::VectorXd s = x_new - x, y = g_new - g;
    const double sy = s.dot(y);
    if (sy > 1e-12 * s.norm() * y.norm()) {  // BFGS update of the inverse Hessian
      const Eigen::MatrixXd I = Eigen::MatrixXd::Identity(P, P);
      H = (I - s * y.transpose() / sy) * H * (I - y * s.transpose() / sy) + s * s.transpose() / sy;
    }
    const double change = f - f_new;
    x = x_new, g = g_new, f = f_new;
    ++steps;
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
  out.iterations = steps;
  return out;
}

}  // namespace soapgap
