// Repeated environments: rows within tol of an earlier kept row are dropped (first in data
// order kept), serially and across ranks with the same result.
#include <algorithm>
#include <cmath>
#include <map>

#include "soapgap/sparse_selection.hpp"

namespace soapgap {

namespace {

// A fixed direction with no zero component: rows within tol of each other have projections within
// tol (|w| = 1), so only rows with near projections need comparing.
Eigen::VectorXd projection_direction(Eigen::Index d) {
  Eigen::VectorXd w(d);
  for (Eigen::Index k = 0; k < d; ++k) w[k] = 1.0 + 0.5 * std::sin(static_cast<double>(k + 1));
  if (d > 0) w.normalize();
  return w;
}

// Greedy pass over the rows of X in order, with the rows `earlier` (kept before X's first row,
// e.g. on earlier ranks) already kept. Returns 1 for each row of X kept.
std::vector<char> keep_flags(const RowMatrixXd& X, const Eigen::VectorXd& proj, double tol, const RowMatrixXd& earlier,
                             const Eigen::VectorXd& earlier_proj) {
  std::multimap<double, long> kept;  // projection -> row of X (>= 0) or of `earlier` (-1 - k)
  for (Eigen::Index k = 0; k < earlier.rows(); ++k) kept.emplace(earlier_proj[k], -1 - k);
  std::vector<char> flags(X.rows(), 0);
  for (Eigen::Index i = 0; i < X.rows(); ++i) {
    bool dup = false;
    for (auto it = kept.lower_bound(proj[i] - tol); it != kept.end() && it->first <= proj[i] + tol; ++it) {
      const double dist = it->second >= 0 ? (X.row(i) - X.row(it->second)).norm()
                                          : (X.row(i) - earlier.row(-1 - it->second)).norm();
      if (dist <= tol) {
        dup = true;
        break;
      }
    }
    if (!dup) {
      kept.emplace(proj[i], static_cast<long>(i));
      flags[i] = 1;
    }
  }
  return flags;
}

// Across ranks, in rank order: rank q decides its rows against the kept rows of earlier ranks
// that could matter, then passes on those of its kept rows whose projection comes within 2·tol
// of a later rank's representative (a row kept by that rank's own pass; any row of it lies
// within tol of one, so 2·tol catches every pair within tol).
std::vector<char> keep_flags_distributed(const RowShare& S, const Eigen::VectorXd& proj, double tol) {
  const Communicator& comm = S.comm;
  const RowMatrixXd& X = S.local;
  const int P = comm.size(), me = comm.rank();
  const Eigen::Index d = X.cols();
  const std::vector<char> own = keep_flags(X, proj, tol, RowMatrixXd(0, d), Eigen::VectorXd());
  std::vector<double> mine;  // (projection, rank) of this rank's representatives
  for (Eigen::Index i = 0; i < X.rows(); ++i)
    if (own[i]) {
      mine.push_back(proj[i]);
      mine.push_back(me);
    }
  const std::vector<double> reps_flat = allgather(comm, mine);
  std::vector<std::pair<double, int>> reps;
  for (size_t k = 0; k < reps_flat.size(); k += 2) reps.emplace_back(reps_flat[k], static_cast<int>(reps_flat[k + 1]));
  std::sort(reps.begin(), reps.end());

  RowMatrixXd earlier(0, d);
  Eigen::VectorXd earlier_proj(0);
  std::vector<char> flags;
  for (int q = 0; q < P; ++q) {
    std::vector<double> out;  // rows to pass on: d values then the projection
    if (me == q) {
      flags = keep_flags(X, proj, tol, earlier, earlier_proj);
      for (Eigen::Index i = 0; i < X.rows(); ++i) {
        if (!flags[i]) continue;
        bool later = false;
        for (auto it = std::lower_bound(reps.begin(), reps.end(), std::make_pair(proj[i] - 2 * tol, -1));
             it != reps.end() && it->first <= proj[i] + 2 * tol; ++it)
          if (it->second > q) {
            later = true;
            break;
          }
        if (!later) continue;
        out.insert(out.end(), X.row(i).data(), X.row(i).data() + d);
        out.push_back(proj[i]);
      }
    }
    double n_out = static_cast<double>(out.size());
    comm.broadcast(&n_out, 1, q);
    if (n_out == 0) continue;
    out.resize(static_cast<size_t>(n_out));
    comm.broadcast(out.data(), static_cast<long>(n_out), q);
    const Eigen::Index add = static_cast<Eigen::Index>(n_out) / (d + 1), old = earlier.rows();
    earlier.conservativeResize(old + add, d);
    earlier_proj.conservativeResize(old + add);
    for (Eigen::Index k = 0; k < add; ++k) {
      earlier.row(old + k) = Eigen::Map<const Eigen::RowVectorXd>(out.data() + k * (d + 1), d);
      earlier_proj[old + k] = out[k * (d + 1) + d];
    }
  }
  return flags;
}

}  // namespace

std::vector<int> distinct_rows(const RowMatrixXd& X, double tol) { return distinct_rows(RowShare{X, 0, X.rows()}, tol); }

std::vector<int> distinct_rows(const RowShare& S, double tol) {
  const Eigen::VectorXd proj = S.local * projection_direction(S.local.cols());
  const std::vector<char> flags = S.comm.distributed()
                                      ? keep_flags_distributed(S, proj, tol)
                                      : keep_flags(S.local, proj, tol, RowMatrixXd(0, S.local.cols()), Eigen::VectorXd());
  std::vector<double> kept;
  for (size_t i = 0; i < flags.size(); ++i)
    if (flags[i]) kept.push_back(static_cast<double>(S.offset + static_cast<long>(i)));
  const std::vector<double> all = allgather(S.comm, kept);
  return std::vector<int>(all.begin(), all.end());
}

double default_repeat_tolerance(const RowMatrixXd& X) { return default_repeat_tolerance(RowShare{X, 0, X.rows()}); }

double default_repeat_tolerance(const RowShare& S) {
  double scale = S.local.rows() ? S.local.rowwise().norm().maxCoeff() : 0.0;
  S.comm.max(&scale, 1);
  return 1e-7 * std::max(1.0, scale);
}

}  // namespace soapgap
