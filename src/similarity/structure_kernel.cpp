#include "soapgap/structure_kernel.hpp"

#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cmath>

#include "soapgap/blas.hpp"
#include "soapgap/error.hpp"
#include "soapgap/parallel.hpp"

namespace soapgap {

StructureKernelSettings::Kind StructureKernelSettings::parse_kind(const std::string& name) {
  if (name == "average") return Kind::Average;
  if (name == "sum") return Kind::Sum;
  if (name == "best-match" || name == "best_match" || name == "bestmatch") return Kind::BestMatch;
  if (name == "rematch") return Kind::Rematch;
  throw Error("structure kernel: unknown kind '" + name + "' (average, sum, best-match or rematch)");
}

std::string default_similarity_descriptor(const std::vector<Structure>& a, const std::vector<Structure>& b) {
  std::vector<int> species;
  for (const auto* set : {&a, &b})
    for (const Structure& s : *set) species.insert(species.end(), s.numbers.begin(), s.numbers.end());
  std::sort(species.begin(), species.end());
  species.erase(std::unique(species.begin(), species.end()), species.end());
  std::string text = "soap n_max=8 l_max=6 atom_sigma=0.5 cutoff=5 cutoff_transition_width=1";
  if (species.size() > 1) {
    text += " n_species=" + std::to_string(species.size()) + " species_Z={";
    for (size_t k = 0; k < species.size(); ++k) text += (k ? " " : "") + std::to_string(species[k]);
    text += "}";
  }
  return text;
}

EnvironmentSet environment_set(const Descriptor& d, const std::vector<Structure>& structures) {
  const std::vector<int> covered = d.neighbour_species();
  const long n = static_cast<long>(structures.size());
  // Two passes, so the rows are allocated once (the descriptors of a large set are GBs):
  // count the environments of each structure, then compute them into their block.
  std::vector<Eigen::Index> count(n);
  ExceptionCollector errors;
#pragma omp parallel for schedule(dynamic)
  for (long s = 0; s < n; ++s)
    errors.run([&] {
      const Structure& st = structures[s];
      st.validate();
      if (st.size() == 0) throw Error(st.where() + "an empty structure has no environments to compare");
      if (!covered.empty())
        for (int z : st.numbers)
          if (std::find(covered.begin(), covered.end(), z) == covered.end())
            throw Error(st.where() + "species " + chemical_symbol(z) + " is not among the descriptor's species_Z (" +
                        d.to_string() + ")");
      count[s] = d.environment_count(st);
      if (count[s] == 0) throw Error(st.where() + "the descriptor finds no environment (no centre atom of its Z, or no pair or triplet of its species)");
    });
  errors.rethrow();
  EnvironmentSet set;
  set.descriptor = d.to_string();
  for (long s = 0; s < n; ++s) set.offset.push_back(set.offset.back() + count[s]);
  set.rows.resize(set.offset.back(), d.dimension());
#pragma omp parallel for schedule(dynamic)
  for (long s = 0; s < n; ++s)
    errors.run([&] {
      const Structure& st = structures[s];
      const RowMatrixXd v = d.compute(st, build_neighbour_list(st, d.cutoff()), false).values;
      if (v.rows() != count[s]) throw Error(st.where() + "environment count differs between passes (internal error)");
      for (Eigen::Index e = 0; e < v.rows(); ++e) {
        const double norm = v.row(e).norm();
        if (!(norm > 0) || !std::isfinite(norm))
          throw Error(st.where() + "environment " + std::to_string(e) + " has a zero or non-finite descriptor");
        set.rows.row(set.offset[s] + e) = v.row(e) / norm;
      }
    });
  errors.rethrow();
  return set;
}

namespace {

using Kind = StructureKernelSettings::Kind;

void environment_products(const Eigen::Ref<const RowMatrixXd>& X, const Eigen::Ref<const RowMatrixXd>& Y, RowMatrixXd& E) {
  E.resize(X.rows(), Y.rows());
  multiply_abt(X, Y, E);
}

void raise_to_zeta(RowMatrixXd& C, int zeta) {
  if (zeta == 1) return;
  const RowMatrixXd base = C;
  for (int k = 1; k < zeta; ++k) C.array() *= base.array();
}

void check_settings(const StructureKernelSettings& s) {
  if (s.zeta < 1) throw Error("structure kernel: zeta must be a positive integer, got " + std::to_string(s.zeta));
  if (s.kind == Kind::Rematch) {
    if (!(s.rematch.gamma > 0) || !std::isfinite(s.rematch.gamma))
      throw Error("structure kernel: REMatch gamma must be a positive number, got " + std::to_string(s.rematch.gamma));
    if (!(s.rematch.tolerance > 0)) throw Error("structure kernel: REMatch tolerance must be positive");
    if (s.rematch.max_iterations < 1) throw Error("structure kernel: REMatch iteration cap must be at least 1");
  }
}

// Blocks of consecutive structures holding about `target` environments each.
std::vector<int> block_starts(const EnvironmentSet& set, Eigen::Index target) {
  std::vector<int> starts{0};
  Eigen::Index in_block = 0;
  for (int s = 0; s < set.size(); ++s) {
    if (in_block > 0 && in_block + set.count(s) > target) {
      starts.push_back(s);
      in_block = 0;
    }
    in_block += set.count(s);
  }
  starts.push_back(set.size());
  return starts;
}

Eigen::VectorXd self_values(const EnvironmentSet& set, const StructureKernelSettings& st) {
  Eigen::VectorXd diag(set.size());
  ExceptionCollector errors;
#pragma omp parallel for schedule(dynamic)
  for (int s = 0; s < set.size(); ++s)
    errors.run([&] {
      const auto X = set.rows.middleRows(set.offset[s], set.count(s));
      RowMatrixXd C = X * X.transpose();
      raise_to_zeta(C, st.zeta);
      diag[s] = structure_kernel_value(C, st);
    });
  errors.rethrow();
  return diag;
}

// zeta = 1 average/sum: Σ_ij x̂_i·ŷ_j = (Σ_i x̂_i)·(Σ_j ŷ_j), so one product of summed rows.
RowMatrixXd linear_average(const EnvironmentSet& A, const EnvironmentSet& B, Kind kind) {
  auto sums = [kind](const EnvironmentSet& set) {
    RowMatrixXd S(set.size(), set.rows.cols());
    for (int s = 0; s < set.size(); ++s) {
      S.row(s) = set.rows.middleRows(set.offset[s], set.count(s)).colwise().sum();
      if (kind == Kind::Average) S.row(s) /= static_cast<double>(set.count(s));
    }
    return S;
  };
  const RowMatrixXd SA = sums(A), SB = &A == &B ? SA : sums(B);
  return SA * SB.transpose();
}

}  // namespace

double structure_kernel_value(const RowMatrixXd& C, const StructureKernelSettings& st) {
  const Eigen::Index n = C.rows(), m = C.cols();
  switch (st.kind) {
    case Kind::Average:
      return C.mean();
    case Kind::Sum:
      return C.sum();
    case Kind::BestMatch: {
      // maximise Σ C over an assignment of the smaller set into the larger
      const bool wide = n <= m;
      const RowMatrixXd cost = wide ? RowMatrixXd(-C) : RowMatrixXd(-C.transpose());
      const std::vector<int> col = linear_sum_assignment(cost);
      double total = 0;
      for (size_t i = 0; i < col.size(); ++i) total -= cost(static_cast<Eigen::Index>(i), col[i]);
      return total / static_cast<double>(std::max(n, m));
    }
    case Kind::Rematch:
      return rematch(C, st.rematch).value;
  }
  return 0;
}

RowMatrixXd structure_kernel_matrix(const EnvironmentSet& A, const EnvironmentSet* B_in, const StructureKernelSettings& st,
                                    const Progress& progress) {
  check_settings(st);
  const bool symmetric = B_in == nullptr;
  const EnvironmentSet& B = symmetric ? A : *B_in;
  if (B.descriptor != A.descriptor)
    throw Error("structure kernel: the two sets were described with different settings:\n  " + A.descriptor + "\n  " +
                B.descriptor);
  if (A.size() == 0 || B.size() == 0) throw Error("structure kernel: an empty set of structures");
  const int nA = A.size(), nB = B.size();
  RowMatrixXd K(nA, nB);

  if (st.zeta == 1 && (st.kind == Kind::Average || st.kind == Kind::Sum)) {
    K = linear_average(A, B, st.kind);
    if (progress) progress(static_cast<long long>(nA) * nB, static_cast<long long>(nA) * nB);
  } else {
    // Tiles of ~2048 x 2048 environments: one BLAS matrix product each (threaded by the BLAS),
    // then the per-pair reductions in parallel (OpenMP).
    const std::vector<int> ia = block_starts(A, 2048), ib = symmetric ? ia : block_starts(B, 2048);
    const long long total = symmetric ? static_cast<long long>(nA) * (nA + 1) / 2 : static_cast<long long>(nA) * nB;
    long long done = 0;
    auto last = std::chrono::steady_clock::now();
    RowMatrixXd E;
    ExceptionCollector errors;
    for (size_t I = 0; I + 1 < ia.size(); ++I)
      for (size_t J = symmetric ? I : 0; J + 1 < ib.size(); ++J) {
        const int a0 = ia[I], a1 = ia[I + 1], b0 = ib[J], b1 = ib[J + 1];
        const Eigen::Index ra = A.offset[a0], rb = B.offset[b0];
        environment_products(A.rows.middleRows(ra, A.offset[a1] - ra), B.rows.middleRows(rb, B.offset[b1] - rb), E);
        raise_to_zeta(E, st.zeta);
        const bool diagonal = symmetric && I == J;
#pragma omp parallel for schedule(dynamic)
        for (int a = a0; a < a1; ++a)
          errors.run([&] {
            for (int b = diagonal ? a : b0; b < b1; ++b) {
              const RowMatrixXd C = E.block(A.offset[a] - ra, B.offset[b] - rb, A.count(a), B.count(b));
              try {
                K(a, b) = structure_kernel_value(C, st);
              } catch (const Error& e) {
                throw Error("structure kernel between structure " + std::to_string(a) + " and " + std::to_string(b) +
                            ": " + e.what());
              }
              if (symmetric) K(b, a) = K(a, b);
            }
          });
        errors.rethrow();
        done += diagonal ? static_cast<long long>(a1 - a0) * (a1 - a0 + 1) / 2 : static_cast<long long>(a1 - a0) * (b1 - b0);
        const auto now = std::chrono::steady_clock::now();
        if (progress && now - last > std::chrono::seconds(2)) {
          last = now;
          progress(done, total);
        }
      }
    if (progress) progress(total, total);
  }
  if (st.normalise) {
    // the symmetric matrix already holds K(A,A) on its diagonal
    const Eigen::VectorXd dA = symmetric ? Eigen::VectorXd(K.diagonal()) : self_values(A, st);
    const Eigen::VectorXd dB = symmetric ? dA : self_values(B, st);
    for (int a = 0; a < nA; ++a)
      for (int b = 0; b < nB; ++b) K(a, b) /= std::sqrt(dA[a] * dB[b]);
  }
  return K;
}

}  // namespace soapgap
