#include "soapgap/assignment.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>

#include "soapgap/error.hpp"

namespace soapgap {

std::vector<int> linear_sum_assignment(const RowMatrixXd& cost) {
  const int n = static_cast<int>(cost.rows()), m = static_cast<int>(cost.cols());
  if (n > m) throw Error("linear_sum_assignment: " + std::to_string(n) + " rows but only " + std::to_string(m) + " columns");
  if (!cost.allFinite()) throw Error("linear_sum_assignment: the cost matrix has a NaN or infinite entry");
  constexpr double inf = std::numeric_limits<double>::infinity();
  // Dual potentials u (rows), v (columns); reduced costs cost - u - v stay >= 0 on the way.
  std::vector<double> u(n, 0.0), v(m, 0.0), shortest(m);
  std::vector<int> col_of_row(n, -1), row_of_col(m, -1), path(m), todo(m);
  std::vector<char> row_seen(n), col_seen(m);
  for (int start = 0; start < n; ++start) {
    // Dijkstra on reduced costs from the free row `start` to the nearest free column.
    std::fill(shortest.begin(), shortest.end(), inf);
    std::fill(row_seen.begin(), row_seen.end(), 0);
    std::fill(col_seen.begin(), col_seen.end(), 0);
    for (int k = 0; k < m; ++k) todo[k] = m - 1 - k;
    int n_todo = m, i = start, sink = -1;
    double reached = 0;
    while (sink < 0) {
      row_seen[i] = 1;
      int best = -1;
      double lowest = inf;
      for (int k = 0; k < n_todo; ++k) {
        const int j = todo[k];
        const double d = reached + cost(i, j) - u[i] - v[j];
        if (d < shortest[j]) {
          path[j] = i;
          shortest[j] = d;
        }
        // prefer a free column on ties: the path ends sooner
        if (shortest[j] < lowest || (shortest[j] == lowest && row_of_col[j] < 0)) {
          lowest = shortest[j];
          best = k;
        }
      }
      reached = lowest;
      const int j = todo[best];
      col_seen[j] = 1;
      todo[best] = todo[--n_todo];
      if (row_of_col[j] < 0)
        sink = j;
      else
        i = row_of_col[j];
    }
    // Update the potentials so the new matching stays tight, then flip the path.
    u[start] += reached;
    for (int r = 0; r < n; ++r)
      if (row_seen[r] && r != start) u[r] += reached - shortest[col_of_row[r]];
    for (int c = 0; c < m; ++c)
      if (col_seen[c]) v[c] -= reached - shortest[c];
    for (int j = sink;;) {
      const int r = path[j];
      row_of_col[j] = r;
      std::swap(col_of_row[r], j);
      if (r == start) break;
    }
  }
  return col_of_row;
}

namespace {

std::string number(double x) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.3g", x);
  return buf;
}

void check_gamma(const RematchSettings& s) {
  if (!(s.gamma > 0) || !std::isfinite(s.gamma))
    throw Error("rematch: gamma must be a positive number, got " + number(s.gamma));
  if (!(s.tolerance > 0)) throw Error("rematch: tolerance must be positive");
  if (s.max_iterations < 1) throw Error("rematch: max_iterations must be at least 1");
}

[[noreturn]] void not_converged(const RematchSettings& s, double err, int n, int m) {
  throw Error("rematch: the matching did not converge in " + std::to_string(s.max_iterations) + " iterations (gamma=" +
              number(s.gamma) + ", " + std::to_string(n) + "x" + std::to_string(m) + " environments, marginal error " +
              number(err) + " > tolerance " + number(s.tolerance) + "); raise gamma, the tolerance or the iteration cap");
}

// The plan is P_ij = exp(logK_ij + a_i + b_j); a, b are the logs of the Sinkhorn scalings.
struct Scaling {
  Eigen::VectorXd a, b;
  bool converged = false;
  bool log_domain = false;
  int iterations = 0;
  double marginal_error = 0;
};

double log_sum_exp(const Eigen::Ref<const Eigen::VectorXd>& x) {
  const double mx = x.maxCoeff();
  return mx + std::log((x.array() - mx).exp().sum());
}

// Sinkhorn sweeps v = (1/m)/(Kᵀu), u = (1/n)/(Kv) on K itself. Cheap, but u, v can under/
// overflow for small gamma: returns false then (the caller switches to the log domain).
bool sinkhorn_plain(const RowMatrixXd& K, double tol, int sweeps, Scaling& out) {
  const Eigen::Index n = K.rows(), m = K.cols();
  Eigen::VectorXd u = Eigen::VectorXd::Constant(n, 1.0 / n), v(m), Kv(n);
  double err = 0;
  int it = 0;
  while (it < sweeps) {
    ++it;
    v = (1.0 / m) / (K.transpose() * u).array();
    Kv.noalias() = K * v;
    if (!v.allFinite() || !Kv.allFinite() || (Kv.array() <= 0).any() || (v.array() <= 0).any()) return false;
    err = (u.array() * Kv.array() - 1.0 / n).abs().sum();
    if (err < tol) break;
    u = (1.0 / n) / Kv.array();
  }
  out = {u.array().log(), v.array().log(), err < tol, false, it, err};
  return true;
}

// The same sweeps on a = log u, b = log v: stable for any gamma. Starts from sc.a if set.
void sinkhorn_log(const RowMatrixXd& logK, double tol, int sweeps, Scaling& sc) {
  const Eigen::Index n = logK.rows(), m = logK.cols();
  Eigen::VectorXd a = sc.a.size() == n ? sc.a : Eigen::VectorXd::Constant(n, -std::log(double(n)));
  Eigen::VectorXd b(m), lse(n);
  double err = 0;
  int it = 0;
  while (it < sweeps) {
    ++it;
    for (Eigen::Index j = 0; j < m; ++j) b[j] = -std::log(double(m)) - log_sum_exp(logK.col(j) + a);
    for (Eigen::Index i = 0; i < n; ++i) lse[i] = log_sum_exp(logK.row(i).transpose() + b);
    err = ((a + lse).array().exp() - 1.0 / n).abs().sum();
    if (err < tol) break;
    a = -std::log(double(n)) - lse.array();
  }
  sc = {a, b, err < tol, true, sc.iterations + it, err};
}

// Sinkhorn converges linearly, and slowly for small gamma when groups of environments are
// (nearly) identical. Newton's method on the concave dual
//   Φ(a, b) = Σ_i a_i/n + Σ_j b_j/m − Σ_ij exp(logK_ij + a_i + b_j)
// converges quadratically; with b_m fixed (Φ is invariant under a + t, b − t) its negative
// Hessian [[diag(P1), P], [Pᵀ, diag(Pᵀ1)]] is positive definite. Backtracking line search.
// K: exp(logK) when it is representable (then P = diag(e^a) K diag(e^b) costs n + m
// exponentials instead of n m), else empty.
void newton(const RowMatrixXd& logK, const RowMatrixXd& K, double tol, int steps, Scaling& sc) {
  const Eigen::Index n = logK.rows(), m = logK.cols(), k = n + m - 1;
  auto plan = [&](const Eigen::VectorXd& a, const Eigen::VectorXd& b) {
    if (K.size() > 0) return RowMatrixXd(a.array().exp().matrix().asDiagonal() * K * b.array().exp().matrix().asDiagonal());
    return RowMatrixXd(((logK.colwise() + a).rowwise() + b.transpose()).array().exp());
  };
  auto dual = [&](const Eigen::VectorXd& a, const Eigen::VectorXd& b, const RowMatrixXd& P) {
    return a.sum() / n + b.sum() / m - P.sum();
  };
  RowMatrixXd P = plan(sc.a, sc.b);
  double phi = dual(sc.a, sc.b, P);
  Eigen::MatrixXd H(k, k);
  Eigen::VectorXd g(k);
  for (int it = 0; it < steps; ++it) {
    const Eigen::VectorXd r = P.rowwise().sum(), c = P.colwise().sum().transpose();
    // Columns made exact by one Sinkhorn half-step; the remaining row error decides convergence.
    {
      Eigen::VectorXd b = sc.b.array() + (1.0 / m / c.array()).log();
      const RowMatrixXd Q = plan(sc.a, b);
      const double err = (Q.rowwise().sum().array() - 1.0 / n).abs().sum();
      sc.marginal_error = err;
      if (err < tol && Q.allFinite()) {
        sc.b = b;
        sc.converged = true;
        return;
      }
    }
    ++sc.iterations;
    g.head(n) = 1.0 / n - r.array();
    g.tail(m - 1) = 1.0 / m - c.head(m - 1).array();
    H.setZero();
    H.topLeftCorner(n, n).diagonal() = r;
    H.bottomRightCorner(m - 1, m - 1).diagonal() = c.head(m - 1);
    H.topRightCorner(n, m - 1) = P.leftCols(m - 1);
    H.bottomLeftCorner(m - 1, n) = P.leftCols(m - 1).transpose();
    H.diagonal().array() += 1e-14 * H.diagonal().maxCoeff();  // rows whose mass underflowed
    const Eigen::VectorXd step = H.ldlt().solve(g);
    if (!step.allFinite()) return;
    const double slope = g.dot(step);
    const double gnorm = (r.array() - 1.0 / n).abs().sum() + (c.array() - 1.0 / m).abs().sum();
    double t = 1;
    bool moved = false;
    for (int halving = 0; halving < 40; ++halving, t *= 0.5) {
      Eigen::VectorXd a = sc.a + t * step.head(n), b = sc.b;
      b.head(m - 1) += t * step.tail(m - 1);
      RowMatrixXd Pt = plan(a, b);
      const double phit = dual(a, b, Pt);
      // Near the solution the gain in Φ drops below its round-off: accept a smaller gradient too.
      const double gt = (Pt.rowwise().sum().array() - 1.0 / n).abs().sum() + (Pt.colwise().sum().array() - 1.0 / m).abs().sum();
      if (std::isfinite(phit) && (phit >= phi + 1e-4 * t * slope || gt < 0.5 * gnorm)) {
        sc.a = a;
        sc.b = b;
        P = std::move(Pt);
        phi = phit;
        moved = true;
        break;
      }
    }
    if (!moved) return;  // at the floor of round-off
  }
}

RowMatrixXd plan_from(const RowMatrixXd& C, const RematchSettings& s, Scaling* info) {
  check_gamma(s);
  if (C.rows() == 0 || C.cols() == 0) throw Error("rematch: a structure without environments");
  if (!C.allFinite()) throw Error("rematch: the environment kernel has a NaN or infinite entry");
  Scaling sc;
  RowMatrixXd logK = (C.array() - 1.0) / s.gamma;
  // exp(logK) stays a normal double, and the scalings bounded, while -logK < ~600.
  // Most pairs: plain Sinkhorn at the requested gamma converges in tens of sweeps; if it stalls,
  // Newton from where it stopped. Only if that fails, or exp(logK) would underflow, anneal.
  if (-logK.minCoeff() < 600) {
    const RowMatrixXd K = logK.array().exp();
    if (sinkhorn_plain(K, s.tolerance, std::min(s.max_iterations, 300), sc) && !sc.converged)
      newton(logK, K, s.tolerance, s.max_iterations - sc.iterations, sc);
    if (sc.converged) {
      if (info) *info = sc;
      return ((logK.colwise() + sc.a).rowwise() + sc.b.transpose()).array().exp();
    }
  }
  sc = {};
  // Annealing (epsilon scaling): solve for gamma_k = 10^k gamma from the largest k with
  // range(C)/gamma_k <= 30 down to k = 0, each warm-started from the last (the dual potentials
  // f = gamma a carry over). Each stage: Sinkhorn sweeps, then Newton on what is left.
  const double range = C.maxCoeff() - C.minCoeff();
  std::vector<double> gammas{s.gamma};
  while (range / gammas.back() > 30 && gammas.size() < 12) gammas.push_back(gammas.back() * 10);
  std::reverse(gammas.begin(), gammas.end());
  for (size_t k = 0; k < gammas.size(); ++k) {
    const bool last = k + 1 == gammas.size();
    const double tol = last ? s.tolerance : std::max(s.tolerance, 1e-6);
    const int budget = s.max_iterations - sc.iterations;
    if (budget <= 0) break;
    if (k > 0) {
      sc.a *= gammas[k - 1] / gammas[k];
      sc.b *= gammas[k - 1] / gammas[k];
    }
    logK = (C.array() - 1.0) / gammas[k];
    sinkhorn_log(logK, tol, std::min(budget, k == 0 ? 300 : 50), sc);
    if (!sc.converged) newton(logK, RowMatrixXd(), tol, s.max_iterations - sc.iterations, sc);
    if (!sc.converged) break;
    sc.converged = last;
  }
  if (!sc.converged) not_converged(s, sc.marginal_error, static_cast<int>(C.rows()), static_cast<int>(C.cols()));
  if (info) *info = sc;
  return ((logK.colwise() + sc.a).rowwise() + sc.b.transpose()).array().exp();
}

}  // namespace

RematchResult rematch(const RowMatrixXd& C, const RematchSettings& settings) {
  Scaling sc;
  const RowMatrixXd P = plan_from(C, settings, &sc);
  return {(P.array() * C.array()).sum(), sc.marginal_error, sc.iterations, sc.log_domain};
}

RowMatrixXd rematch_plan(const RowMatrixXd& C, const RematchSettings& settings) { return plan_from(C, settings, nullptr); }

}  // namespace soapgap
