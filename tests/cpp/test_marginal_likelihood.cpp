#include <doctest/doctest.h>

#include <cmath>
#include <functional>
#include <random>

#include "soapgap/error.hpp"
#include "soapgap/marginal_likelihood.hpp"

using namespace soapgap;

namespace {
// A small sparse-GP problem: two terms (columns 0-3, 4-6), rows of all three kinds.
struct Problem {
  Eigen::MatrixXd Knm, Kmm;  // at θ = 0
  Eigen::VectorXd y, sigma;
  std::vector<int> kind, term{0, 0, 0, 0, 1, 1, 1};
  double jitter = 0.05;  // large, so that its not scaling with δ is tested
};

Problem make_problem() {
  std::mt19937 rng(5);
  std::uniform_real_distribution<double> u(-1, 1);
  Problem p;
  const int N = 25, M = 7;
  p.Knm = Eigen::MatrixXd::NullaryExpr(N, M, [&] { return u(rng); });
  p.Kmm = Eigen::MatrixXd::Zero(M, M);
  const Eigen::MatrixXd X = Eigen::MatrixXd::NullaryExpr(M, M, [&] { return u(rng); });
  p.Kmm.topLeftCorner(4, 4) = X.topRows(4) * X.topRows(4).transpose() + 0.1 * Eigen::MatrixXd::Identity(4, 4);
  p.Kmm.bottomRightCorner(3, 3) = X.bottomRows(3) * X.bottomRows(3).transpose() + 0.1 * Eigen::MatrixXd::Identity(3, 3);
  p.y = Eigen::VectorXd::NullaryExpr(N, [&] { return u(rng); });
  p.sigma = Eigen::VectorXd::NullaryExpr(N, [&] { return 0.3 + 0.2 * (u(rng) + 1); });
  for (int i = 0; i < N; ++i) p.kind.push_back(i % 5 == 0 ? 0 : i % 5 == 4 ? 2 : 1);
  return p;
}

LikelihoodStatistics statistics(const Problem& p) {
  LikelihoodStatistics st(p.term, 2, NoiseGroups::PerKind);
  st.Kmm = p.Kmm;
  st.jitter = p.jitter;
  const Eigen::MatrixXd A = p.sigma.cwiseInverse().asDiagonal() * p.Knm;
  const Eigen::VectorXd b = p.y.cwiseQuotient(p.sigma);
  const std::vector<double> sig(p.sigma.data(), p.sigma.data() + p.sigma.size());
  // in two blocks, as the fit adds them
  st.add(A.topRows(11), b.head(11), std::vector<int>(p.kind.begin(), p.kind.begin() + 11), std::vector<double>(sig.begin(), sig.begin() + 11));
  st.add(A.bottomRows(14), b.tail(14), std::vector<int>(p.kind.begin() + 11, p.kind.end()), std::vector<double>(sig.begin() + 11, sig.end()));
  return st;
}

// log N(y; 0, K_nm K_mm⁻¹ K_mn + Λ) with the N x N matrices formed explicitly; extra(i, K_nm(θ),
// K_mm(θ)) adds to row i's noise (FITC's residual)
using ExtraNoise = std::function<double(int, const Eigen::MatrixXd&, const Eigen::MatrixXd&)>;
double dense(const Problem& p, const Eigen::VectorXd& th, const ExtraNoise& extra = {}) {
  const int N = static_cast<int>(p.y.size()), M = static_cast<int>(p.term.size());
  Eigen::VectorXd d(M);
  for (int m = 0; m < M; ++m) d[m] = std::exp(th[p.term[m]]);
  const Eigen::MatrixXd Knm = p.Knm * d.asDiagonal();
  Eigen::MatrixXd Kmm = d.cwiseSqrt().asDiagonal() * p.Kmm * d.cwiseSqrt().asDiagonal();
  Kmm.diagonal().array() += p.jitter;
  Eigen::MatrixXd C = Knm * Kmm.ldlt().solve(Knm.transpose());
  for (int i = 0; i < N; ++i)
    C(i, i) += std::exp(th[2 + p.kind[i]]) * p.sigma[i] * p.sigma[i] + (extra ? extra(i, Knm, Kmm) : 0.0);
  const Eigen::LLT<Eigen::MatrixXd> llt(C);
  const double logdet = 2.0 * llt.matrixL().toDenseMatrix().diagonal().array().log().sum();
  return -0.5 * p.y.dot(llt.solve(p.y)) - 0.5 * logdet - 0.5 * N * std::log(2 * M_PI);
}
}  // namespace

TEST_CASE("marginal likelihood from whitened statistics equals the dense Gaussian, gradients by finite differences") {
  const Problem p = make_problem();
  const LikelihoodStatistics st = statistics(p);
  CHECK(st.n[0] == 5);
  CHECK(st.n[2] == 5);
  for (const Eigen::VectorXd th : {Eigen::VectorXd::Zero(5).eval(), (Eigen::VectorXd(5) << 0.7, -1.1, 0.4, -0.8, 1.3).finished()}) {
    Eigen::VectorXd g;
    const double v = log_marginal_likelihood(st, th, &g);
    CHECK(v == doctest::Approx(dense(p, th)).epsilon(1e-10));
    for (int j = 0; j < 5; ++j) {
      const double h = 1e-5;
      Eigen::VectorXd a = th, b = th;
      a[j] += h, b[j] -= h;
      const double fd = (log_marginal_likelihood(st, a) - log_marginal_likelihood(st, b)) / (2 * h);
      CHECK(g[j] == doctest::Approx(fd).epsilon(1e-7));
    }
  }
}

TEST_CASE("BFGS finds a stationary maximum of the marginal likelihood") {
  const Problem p = make_problem();
  const LikelihoodStatistics st = statistics(p);
  const HyperOptimum opt = maximise_marginal_likelihood(st);
  Eigen::VectorXd g;
  const double best = log_marginal_likelihood(st, opt.theta, &g);
  CHECK(best == doctest::Approx(opt.log_likelihood));
  CHECK(best > opt.initial);
  CHECK(g.cwiseAbs().maxCoeff() < 1e-4);
  std::mt19937 rng(1);
  std::normal_distribution<double> n(0, 0.3);
  for (int trial = 0; trial < 20; ++trial) {
    const Eigen::VectorXd th = opt.theta + Eigen::VectorXd::NullaryExpr(5, [&] { return n(rng); });
    CHECK(log_marginal_likelihood(st, th) < best);
  }
}

TEST_CASE("force noise bins: one noise group per |F| bin, equal to the dense Gaussian, gradients by finite differences") {
  const Problem p = make_problem();
  LikelihoodStatistics st(p.term, 2, NoiseGroups::PerKind, {}, 2);
  REQUIRE(st.groups() == 4);
  CHECK(st.group(1, "", 0) == 1);
  CHECK(st.group(1, "", 1) == 3);
  CHECK(st.group(2, "", 1) == 2);  // bins split force rows only
  CHECK_THROWS_WITH_AS(st.group(1, "", 2), doctest::Contains("out of range"), Error);
  CHECK_THROWS_WITH_AS(LikelihoodStatistics(p.term, 2, NoiseGroups::PerConfigType, {"a"}, 2),
                       doctest::Contains("per_config_type"), Error);
  st.Kmm = p.Kmm;
  st.jitter = p.jitter;
  // force rows alternate between the two bins
  std::vector<int> group;
  for (size_t i = 0; i < p.kind.size(); ++i) group.push_back(st.group(p.kind[i], "", p.kind[i] == 1 ? i % 2 : 0));
  const Eigen::MatrixXd A = p.sigma.cwiseInverse().asDiagonal() * p.Knm;
  const Eigen::VectorXd b = p.y.cwiseQuotient(p.sigma);
  st.add(A, b, group, std::vector<double>(p.sigma.data(), p.sigma.data() + p.sigma.size()));
  // the dense reference with the noise scale of each row's group
  Problem q = p;
  const Eigen::VectorXd th = (Eigen::VectorXd(6) << 0.3, -0.6, 0.2, -0.4, 0.9, -1.2).finished();
  auto dense_groups = [&](const Eigen::VectorXd& t) {
    Eigen::VectorXd scaled = p.sigma;
    for (size_t i = 0; i < group.size(); ++i) scaled[i] *= std::exp(0.5 * t[2 + group[i]]);
    q.sigma = scaled;
    Eigen::VectorXd zero_noise = t.head(5);
    zero_noise.tail(3).setZero();
    return dense(q, zero_noise);
  };
  Eigen::VectorXd g;
  CHECK(log_marginal_likelihood(st, th, &g) == doctest::Approx(dense_groups(th)).epsilon(1e-10));
  for (int j = 0; j < 6; ++j) {
    const double h = 1e-5;
    Eigen::VectorXd a = th, c = th;
    a[j] += h, c[j] -= h;
    CHECK(g[j] == doctest::Approx((log_marginal_likelihood(st, a) - log_marginal_likelihood(st, c)) / (2 * h)).epsilon(1e-7));
  }
}

TEST_CASE("FITC marginal likelihood equals the dense Gaussian with FITC's noise, gradients by finite differences") {
  const Problem p = make_problem();
  const int N = static_cast<int>(p.y.size()), M = static_cast<int>(p.term.size());
  LikelihoodStatistics st(p.term, 2, NoiseGroups::PerKind);
  st.jitter = p.jitter;
  st.kmm_vectors = Eigen::MatrixXd::Zero(M, M);
  st.kmm_values.resize(M);
  for (const auto [m0, n] : {std::pair{0, 4}, std::pair{4, 3}}) {
    const Eigen::SelfAdjointEigenSolver<Eigen::MatrixXd> eig(p.Kmm.block(m0, m0, n, n));
    st.kmm_vectors.block(m0, m0, n, n) = eig.eigenvectors();
    st.kmm_values.segment(m0, n) = eig.eigenvalues();
  }
  st.Kmm = p.Kmm;
  st.fitc = true;
  // prior variance per term above the Nyström part: FITC's residual noise stays positive
  RowMatrixXd prior(N, 2);
  for (int i = 0; i < N; ++i) {
    const Eigen::VectorXd k0 = p.Knm.row(i).head(4).transpose(), k1 = p.Knm.row(i).tail(3).transpose();
    prior(i, 0) = k0.dot(p.Kmm.topLeftCorner(4, 4).ldlt().solve(k0)) + 0.2 + 0.01 * i;
    prior(i, 1) = k1.dot(p.Kmm.bottomRightCorner(3, 3).ldlt().solve(k1)) + 0.1;
  }
  st.add_fitc(p.Knm, p.y, p.kind, std::vector<double>(p.sigma.data(), p.sigma.data() + N), prior);
  CHECK(st.rows() == N);
  auto dense_fitc = [&](const Eigen::VectorXd& th) {
    // FITC's residual per term: a_t p_ti − k̃_tᵀ K_mm,t(θ)⁻¹ k̃_t
    return dense(p, th, [&](int i, const Eigen::MatrixXd& Knm, const Eigen::MatrixXd& Kmm) {
      double r = 0;
      for (const auto [t, m0, n] : {std::tuple{0, 0, 4}, std::tuple{1, 4, 3}}) {
        const Eigen::VectorXd k = Knm.row(i).segment(m0, n).transpose();
        r += std::exp(th[t]) * prior(i, t) - k.dot(Kmm.block(m0, m0, n, n).ldlt().solve(k));
      }
      return r;
    });
  };
  for (const Eigen::VectorXd th : {Eigen::VectorXd::Zero(5).eval(), (Eigen::VectorXd(5) << 0.7, -1.1, 0.4, -0.8, 1.3).finished()}) {
    Eigen::VectorXd g;
    const double v = log_marginal_likelihood(st, th, &g);
    CHECK(v == doctest::Approx(dense_fitc(th)).epsilon(1e-10));
    for (int j = 0; j < 5; ++j) {
      const double h = 1e-5;
      Eigen::VectorXd a = th, b = th;
      a[j] += h, b[j] -= h;
      CHECK(g[j] == doctest::Approx((log_marginal_likelihood(st, a) - log_marginal_likelihood(st, b)) / (2 * h)).epsilon(1e-7));
    }
  }
  // and BFGS finds its maximum
  const HyperOptimum opt = maximise_marginal_likelihood(st);
  Eigen::VectorXd g;
  CHECK(log_marginal_likelihood(st, opt.theta, &g) > opt.initial);
  CHECK(g.cwiseAbs().maxCoeff() < 1e-4);
}
