// Choice of representative (sparse) environments from the training environments.
//   random     seeded uniform sample without replacement
//   uniform    a grid of ceil(M^(1/d)) bins per dimension over the data range, one point per
//              occupied bin first, then random bins (QUIP clustering.F90, for low-d descriptors)
//   cur_points leverage scores of the descriptor matrix (Mahoney & Drineas, PNAS 106, 697 (2009)):
//              p_j = min(1, M/k Σ_{r<k} U_jr²), k = rank/2; rank by u_j - p_j with u_j ~ U[0,1]
//   all / none every (distinct) environment
//   file       sparse environments read from sparse_file (whitespace-separated numbers, d per
//              point, point after point: one value per line as QUIP's sparseX files, or one
//              point per line)
//   index_file 1-based indices (as QUIP's INDEX_FILE) into the training environments of the
//              term, counted frame by frame in file order. With add_species=T the same file
//              serves every species term, as in gap_fit.
// All are deterministic for a given seed. Exact duplicates are removed first.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "soapgap/structure.hpp"

namespace soapgap {

enum class SparseMethod { Random, Uniform, CurPoints, All, File, IndexFile };

SparseMethod parse_sparse_method(const std::string& name);
std::string sparse_method_name(SparseMethod m);

// Indices of rows of X that are not (within tol) a repeat of an earlier row.
std::vector<int> distinct_rows(const RowMatrixXd& X, double tol = 1e-10);

RowMatrixXd read_sparse_points(const std::string& path, int dim);
std::vector<int> read_sparse_indices(const std::string& path, int n_env);

// Indices (sorted) of at most n_sparse rows of X (not for File / IndexFile).
std::vector<int> select_sparse(const RowMatrixXd& X, int n_sparse, SparseMethod method, std::uint64_t seed);

}  // namespace soapgap
