// Choice of representative (sparse) environments from the training environments.
//   random     seeded uniform sample without replacement
//   uniform    a grid of ceil(M^(1/d)) bins per dimension over the data range, one point per
//              occupied bin first, then random bins (QUIP clustering.F90, for low-d descriptors)
//   cur_points ridge leverage scores of the descriptor matrix, the smooth form of the rank-k
//              leverage scores of Mahoney & Drineas (PNAS 106, 697 (2009)):
//              l_j = x_jᵀ(XᵀX + σ_k² I)⁻¹x_j, k = ⌈min(n,d)/2⌉, p_j = min(1, M l_j / Σ l);
//              rank by u_j - p_j with u_j ~ U[0,1]. Smooth in X, so positions rounded to 1e-8 Å
//              give the same sparse set
//   all / none every (distinct) environment
//   file       sparse environments read from sparse_file (whitespace-separated numbers, d per
//              point, point after point: one value per line as QUIP's sparseX files, or one
//              point per line)
//   index_file 1-based indices (as QUIP's INDEX_FILE) into the training environments of the
//              term, counted frame by frame in file order. With add_species=T the same file
//              serves every species term, as in gap_fit.
// All are deterministic for a given seed. Repeated environments are removed first (rows within
// default_repeat_tolerance of an earlier row; the first in data order is kept).
// Distributed (RowShare over several ranks): every rank holds a contiguous share of the rows and
// the result is the serial one, index for index: repeats are found per rank and then checked
// against the earlier ranks' kept rows in rank order (only rows whose projections come within
// 2·tol of a later rank's are exchanged); CUR sums the per-rank Gram matrices XₚᵀXₚ (d x d) and
// gathers the leverage scores (one number per row); uniform gathers the grid cells; random needs
// only the count. Sums differ from serial in rounding only (1e-16 relative).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "soapgap/communicator.hpp"
#include "soapgap/structure.hpp"

namespace soapgap {

enum class SparseMethod { Random, Uniform, CurPoints, All, File, IndexFile };

SparseMethod parse_sparse_method(const std::string& name);
std::string sparse_method_name(SparseMethod m);

// This rank's rows of a row matrix: global rows [offset, offset + local.rows()) of `total`; shares
// are contiguous and in rank order.
struct RowShare {
  const RowMatrixXd& local;
  long offset = 0;
  long total = 0;
  const Communicator& comm = serial_communicator();
};

// Indices of rows of X that are not within Euclidean distance tol of an earlier kept row
// (global indices, on every rank).
std::vector<int> distinct_rows(const RowMatrixXd& X, double tol);
std::vector<int> distinct_rows(const RowShare& X, double tol);
// Column-wise minimum and maximum over all ranks' rows (±inf bounds where no rank has rows).
void column_bounds(const RowShare& X, Eigen::RowVectorXd& lo, Eigen::RowVectorXd& hi);

// 1e-7 x max(1, largest row norm): far above the change a 1e-8 Å rounding of the positions
// makes, far below any difference between environments that matters to a fit.
double default_repeat_tolerance(const RowMatrixXd& X);
double default_repeat_tolerance(const RowShare& X);

RowMatrixXd read_sparse_points(const std::string& path, int dim);
std::vector<int> read_sparse_indices(const std::string& path, int n_env);

// Indices (sorted) of at most n_sparse rows of X (not for File / IndexFile).
std::vector<int> select_sparse(const RowMatrixXd& X, int n_sparse, SparseMethod method, std::uint64_t seed);
std::vector<int> select_sparse(const RowShare& X, int n_sparse, SparseMethod method, std::uint64_t seed);

}  // namespace soapgap
