// The FITC log marginal likelihood (marginal_likelihood.hpp): the rows are refolded at every θ,
// each weighted by its own noise λ_i(θ) = s_k σ_i² + Σ_t r_ti(a_t), and the gradient adds to
// DTC's (at fixed noise) the chain through λ: ∂log p/∂λ_i = ½(v_i² − [C⁻¹]_ii), v = C⁻¹y,
// with C⁻¹ = Λ⁻¹ − Λ⁻¹K̃ Σ K̃ᵀΛ⁻¹ (Woodbury; K̃ = K_nm D, Σ = (RᵀR)⁻¹), so
// v_i = (y − K̃α)_i/λ_i and [C⁻¹]_ii = 1/λ_i − |R⁻ᵀk̃_i|²/λ_i².
#include <cmath>

#include "soapgap/error.hpp"
#include "soapgap/marginal_likelihood.hpp"
#include "soapgap/streaming_qr.hpp"

namespace soapgap {

namespace {

// λ of every row of a block and, per term, ∂λ/∂log a_t (zero where the residual is clipped).
void fitc_noise(const LikelihoodStatistics& st, const FitcBlock& blk, const Eigen::VectorXd& a_term,
                const Eigen::VectorXd& s_group, Eigen::VectorXd& lambda, RowMatrixXd& dlambda_da) {
  const Eigen::Index n = blk.K.rows(), M = blk.K.cols();
  const int T = st.n_terms;
  const double j = st.jitter;
  // a² Σ_e z²/(a e + j) and a·∂/∂a of it per term: z² times the weights of each column, placed in
  // its term's column
  Eigen::MatrixXd w = Eigen::MatrixXd::Zero(M, T), dw = Eigen::MatrixXd::Zero(M, T);
  for (Eigen::Index m = 0; m < M; ++m) {
    const int t = st.term_of_column[m];
    const double a = a_term[t], d = a * st.kmm_values[m] + j;
    w(m, t) = a * a / d;
    dw(m, t) = a * a * (a * st.kmm_values[m] + 2 * j) / (d * d);
  }
  const Eigen::MatrixXd nystrom = blk.z2 * w, dnystrom = blk.z2 * dw;
  lambda.resize(n);
  dlambda_da.resize(n, T);
  for (Eigen::Index i = 0; i < n; ++i) {
    double r = 0.0;
    for (int t = 0; t < T; ++t) {
      r += a_term[t] * blk.prior(i, t) - nystrom(i, t);
      dlambda_da(i, t) = a_term[t] * blk.prior(i, t) - dnystrom(i, t);
    }
    if (r < 0) {  // round-off where the sparse points explain the row fully
      r = 0;
      dlambda_da.row(i).setZero();
    }
    lambda[i] = s_group[blk.group[i]] * blk.sigma2[i] + r;
  }
}

}  // namespace

double fitc_log_marginal_likelihood(const LikelihoodStatistics& st, const Eigen::VectorXd& theta,
                                    Eigen::VectorXd* gradient) {
  const int T = st.n_terms, G = st.groups();
  const Eigen::Index M = static_cast<Eigen::Index>(st.term_of_column.size());
  if (theta.size() != T + G) throw Error("marginal likelihood: expected " + std::to_string(T + G) + " hyperparameters");
  const Eigen::VectorXd a_term = theta.head(T).array().exp(), s_group = theta.tail(G).array().exp();
  Eigen::VectorXd a(M);
  for (Eigen::Index m = 0; m < M; ++m) a[m] = a_term[st.term_of_column[m]];
  const Eigen::VectorXd sqrt_a = a.cwiseSqrt();
  Eigen::MatrixXd Kth = sqrt_a.asDiagonal() * st.Kmm * sqrt_a.asDiagonal();
  Kth.diagonal().array() += st.jitter;
  const Eigen::LLT<Eigen::MatrixXd> kmm(Kth);
  if (kmm.info() != Eigen::Success) throw Error("marginal likelihood: K_mm is not positive definite; increase sparse_jitter");
  const Eigen::MatrixXd Lth = kmm.matrixL();
  // the factor of [Λ(θ)^{-1/2} K_nm D; L(θ)ᵀ] with the targets, block by block
  StreamingQR qr(Lth.transpose(), static_cast<int>(M));
  double logdet_lambda = 0.0, n_rows = 0.0;
  std::vector<Eigen::VectorXd> lambdas;
  std::vector<RowMatrixXd> dlambdas;
  for (const auto& blk : st.fitc_blocks) {
    Eigen::VectorXd lambda;
    RowMatrixXd dl;
    fitc_noise(st, blk, a_term, s_group, lambda, dl);
    if (!(lambda.array() > 0).all() || !lambda.allFinite())
      throw Error("marginal likelihood (FITC): a row's noise is not positive and finite");
    const Eigen::VectorXd inv_sqrt = lambda.cwiseSqrt().cwiseInverse();
    qr.add(inv_sqrt.asDiagonal() * blk.K * a.asDiagonal(), inv_sqrt.cwiseProduct(blk.y));
    logdet_lambda += lambda.array().log().sum();
    n_rows += static_cast<double>(lambda.size());
    if (gradient) {
      lambdas.push_back(std::move(lambda));
      dlambdas.push_back(std::move(dl));
    }
  }
  const TriangularFactor f = qr.finish();
  const Eigen::MatrixXd& Rth = f.R;
  const double logdet_A = 2.0 * Rth.diagonal().cwiseAbs().array().log().sum();
  const double logdet_Kmm = 2.0 * Lth.diagonal().array().log().sum();
  const double value =
      -0.5 * f.residual2 - 0.5 * (logdet_lambda + logdet_A - logdet_Kmm) - 0.5 * n_rows * std::log(2 * M_PI);
  if (gradient) {
    const auto R = Rth.triangularView<Eigen::Upper>();
    const Eigen::VectorXd alpha = R.solve(f.qtb);
    gradient->setZero(T + G);
    gradient->head(T) = signal_gradient(Rth, Lth, alpha, st.term_of_column, T, st.jitter);
    for (size_t b = 0; b < st.fitc_blocks.size(); ++b) {
      const FitcBlock& blk = st.fitc_blocks[b];
      const Eigen::VectorXd& lambda = lambdas[b];
      const RowMatrixXd Kt = blk.K * a.asDiagonal();
      const Eigen::VectorXd v = (blk.y - Kt * alpha).cwiseQuotient(lambda);
      const Eigen::MatrixXd W = R.transpose().solve(Kt.transpose());  // R⁻ᵀk̃_i per column
      const Eigen::VectorXd cinv = lambda.cwiseInverse() - W.colwise().squaredNorm().transpose().cwiseQuotient(
                                                               lambda.cwiseProduct(lambda));
      const Eigen::VectorXd dlogp = 0.5 * (v.cwiseProduct(v) - cinv);
      for (Eigen::Index i = 0; i < lambda.size(); ++i) {
        const int g = blk.group[i];
        (*gradient)[T + g] += dlogp[i] * s_group[g] * blk.sigma2[i];
        for (int t = 0; t < T; ++t) (*gradient)[t] += dlogp[i] * dlambdas[b](i, t);
      }
    }
  }
  return value;
}

}  // namespace soapgap
