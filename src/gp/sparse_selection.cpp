#include "soapgap/sparse_selection.hpp"

#include <algorithm>
#include <fstream>
#include <cmath>
#include <limits>
#include <map>
#include <numeric>
#include <random>

#include "soapgap/error.hpp"

namespace soapgap {

SparseMethod parse_sparse_method(const std::string& name) {
  std::string n = name;
  std::transform(n.begin(), n.end(), n.begin(), ::tolower);
  if (n == "random") return SparseMethod::Random;
  if (n == "uniform") return SparseMethod::Uniform;
  if (n == "cur_points" || n == "cur") return SparseMethod::CurPoints;
  if (n == "all" || n == "none") return SparseMethod::All;
  if (n == "file") return SparseMethod::File;
  if (n == "index_file") return SparseMethod::IndexFile;
  throw Error("unknown sparse_method '" + name + "' (supported: random, uniform, cur_points, all/none, file, index_file)");
}

std::string sparse_method_name(SparseMethod m) {
  switch (m) {
    case SparseMethod::Random: return "random";
    case SparseMethod::Uniform: return "uniform";
    case SparseMethod::CurPoints: return "cur_points";
    case SparseMethod::All: return "all";
    case SparseMethod::File: return "file";
    case SparseMethod::IndexFile: return "index_file";
  }
  return "?";
}

namespace {

// Xd: this rank's rows of the distinct rows (n_total over all ranks), in order.
std::vector<int> cur_points(const RowMatrixXd& Xd, long n_total, int m, std::mt19937_64& rng, const Communicator& comm) {
  Eigen::MatrixXd XtX = Xd.transpose() * Xd;
  comm.sum(XtX.data(), XtX.size());
  Eigen::SelfAdjointEigenSolver<Eigen::MatrixXd> eig(XtX);
  const Eigen::VectorXd ev = eig.eigenvalues().reverse().cwiseMax(0.0);  // σ_r², descending
  const Eigen::MatrixXd W = eig.eigenvectors().rowwise().reverse();
  const Eigen::Index k = std::max<Eigen::Index>(1, (std::min<Eigen::Index>(n_total, Xd.cols()) + 1) / 2);
  const double lambda = std::max(ev[k - 1], 1e-12 * ev[0]) + std::numeric_limits<double>::min();
  const Eigen::MatrixXd Y = Xd * W;  // X W = U Σ
  const Eigen::VectorXd inv = (ev.array() + lambda).inverse().matrix();
  std::vector<double> lev_own(Xd.rows());
  for (Eigen::Index j = 0; j < Xd.rows(); ++j) lev_own[j] = Y.row(j).cwiseAbs2().dot(inv.transpose());
  const std::vector<double> lev_all = allgather(comm, lev_own);
  const Eigen::Map<const Eigen::VectorXd> lev(lev_all.data(), static_cast<Eigen::Index>(lev_all.size()));
  const double total = lev.sum();
  std::uniform_real_distribution<double> uni(0.0, 1.0);
  std::vector<std::pair<double, int>> score(lev.size());
  for (Eigen::Index j = 0; j < lev.size(); ++j) {
    const double p = total > 0 ? std::min(1.0, m * lev[j] / total) : 0.0;
    score[j] = {uni(rng) - p, static_cast<int>(j)};  // ties (equal p and u) go to the lower index
  }
  std::sort(score.begin(), score.end());
  std::vector<int> out;
  for (int j = 0; j < m; ++j) out.push_back(score[j].second);
  return out;
}

std::vector<int> uniform_grid(const RowMatrixXd& Xd, int m, std::mt19937_64& rng, const Communicator& comm) {
  const int d = static_cast<int>(Xd.cols());
  const int ngrid = static_cast<int>(std::ceil(std::pow(static_cast<double>(m), 1.0 / d) - 1e-12));
  if (std::pow(static_cast<double>(ngrid), d) > 1e8)
    throw Error("sparse_method=uniform needs " + std::to_string(ngrid) + "^" + std::to_string(d) +
                " grid cells; use cur_points or random for high-dimensional descriptors");
  Eigen::RowVectorXd lo, hi;
  column_bounds(RowShare{Xd, 0, 0, comm}, lo, hi);
  std::vector<double> bin_own(Xd.rows(), 0.0);  // cell numbers < 1e8: exact as doubles
  for (Eigen::Index i = 0; i < Xd.rows(); ++i) {
    long long b = 0;
    for (int k = 0; k < d; ++k) {
      const double range = hi[k] - lo[k];
      const long long ik = range > 0 ? std::llround((Xd(i, k) - lo[k]) / range * (ngrid - 1)) : 0;
      b = b * ngrid + ik;
    }
    bin_own[i] = static_cast<double>(b);
  }
  const std::vector<double> bin = allgather(comm, bin_own);
  const int n = static_cast<int>(bin.size());
  std::map<long long, std::vector<int>> members;
  for (int i = 0; i < n; ++i) members[static_cast<long long>(bin[i])].push_back(i);
  std::vector<int> out;
  std::vector<char> taken(n, 0);
  for (auto& [b, v] : members) {  // one point per occupied bin, in data order
    if (static_cast<int>(out.size()) == m) break;
    out.push_back(v.front());
    taken[v.front()] = 1;
  }
  // fill: random occupied bins, random unchosen member
  std::vector<long long> bins;
  for (auto& [b, v] : members) bins.push_back(b);
  while (static_cast<int>(out.size()) < m) {
    auto& v = members[bins[rng() % bins.size()]];
    std::vector<int> free;
    for (int i : v)
      if (!taken[i]) free.push_back(i);
    if (free.empty()) continue;
    const int pick = free[rng() % free.size()];
    taken[pick] = 1;
    out.push_back(pick);
  }
  return out;
}

}  // namespace

namespace {
std::vector<double> read_numbers(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw Error(path + ": cannot open sparse_file");
  std::vector<double> v;
  std::string t;
  long line = 0;
  while (in >> t) {
    ++line;
    try {
      size_t used = 0;
      v.push_back(std::stod(t, &used));
      if (used != t.size() || !std::isfinite(v.back())) throw std::invalid_argument(t);
    } catch (const std::exception&) {
      throw Error(path + ": value " + std::to_string(line) + " ('" + excerpt(t) + "') is not a finite number");
    }
  }
  return v;
}
}  // namespace

RowMatrixXd read_sparse_points(const std::string& path, int dim) {
  const auto v = read_numbers(path);
  if (v.empty() || v.size() % dim != 0)
    throw Error(path + ": has " + std::to_string(v.size()) + " values, not a multiple of the descriptor dimension " +
                std::to_string(dim));
  return Eigen::Map<const RowMatrixXd>(v.data(), static_cast<Eigen::Index>(v.size() / dim), dim);
}

std::vector<int> read_sparse_indices(const std::string& path, int n_env) {
  std::vector<int> out;
  for (double d : read_numbers(path)) {
    const long i = std::lround(d);
    if (i != d || i < 1 || i > n_env)
      throw Error(path + ": index " + std::to_string(i) + " is not in 1.." + std::to_string(n_env) + " (the training environments of this term)");
    out.push_back(static_cast<int>(i - 1));
  }
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

void column_bounds(const RowShare& S, Eigen::RowVectorXd& lo, Eigen::RowVectorXd& hi) {
  const Eigen::Index d = S.local.cols();
  hi = Eigen::RowVectorXd::Constant(d, -std::numeric_limits<double>::infinity());
  Eigen::RowVectorXd neg_lo = hi;  // max-reduced with hi: -min = max(-x)
  if (S.local.rows() > 0) {
    hi = S.local.colwise().maxCoeff();
    neg_lo = -S.local.colwise().minCoeff();
  }
  S.comm.max(hi.data(), d);
  S.comm.max(neg_lo.data(), d);
  lo = -neg_lo;
}

std::vector<int> select_sparse(const RowMatrixXd& X, int n_sparse, SparseMethod method, std::uint64_t seed) {
  return select_sparse(RowShare{X, 0, X.rows()}, n_sparse, method, seed);
}

std::vector<int> select_sparse(const RowShare& S, int n_sparse, SparseMethod method, std::uint64_t seed) {
  if (method == SparseMethod::File || method == SparseMethod::IndexFile)
    throw Error("select_sparse: file-based sparse points are read, not selected");
  if (n_sparse < 1 && method != SparseMethod::All) throw Error("n_sparse must be at least 1");
  const std::vector<int> distinct = distinct_rows(S, default_repeat_tolerance(S));
  std::vector<int> chosen;
  if (method == SparseMethod::All || static_cast<int>(distinct.size()) <= n_sparse) {
    chosen = distinct;
  } else {
    // this rank's distinct rows (the distinct indices are sorted, shares contiguous)
    const auto first = std::lower_bound(distinct.begin(), distinct.end(), S.offset);
    const auto last = std::lower_bound(first, distinct.end(), S.offset + S.local.rows());
    RowMatrixXd Xd(last - first, S.local.cols());
    for (auto it = first; it != last; ++it) Xd.row(it - first) = S.local.row(*it - S.offset);
    std::mt19937_64 rng(seed);
    std::vector<int> local;
    if (method == SparseMethod::Random) {
      local.resize(distinct.size());
      std::iota(local.begin(), local.end(), 0);
      std::shuffle(local.begin(), local.end(), rng);
      local.resize(n_sparse);
    } else if (method == SparseMethod::CurPoints) {
      local = cur_points(Xd, static_cast<long>(distinct.size()), n_sparse, rng, S.comm);
    } else {
      local = uniform_grid(Xd, n_sparse, rng, S.comm);
    }
    for (int j : local) chosen.push_back(distinct[j]);
  }
  std::sort(chosen.begin(), chosen.end());
  return chosen;
}

}  // namespace soapgap
