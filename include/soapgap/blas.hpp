// Row-major matrix products through the BLAS (OpenBLAS here): on the fit's kernel-gradient
// shapes (237 x 253 times 253 x 9020, one core) its dgemm runs at 48 GFlop/s against 32 for
// Eigen's own product, and it keeps that rate when called from several OpenMP threads at once.
#pragma once
#include "soapgap/structure.hpp"  // RowMatrixXd

namespace soapgap {

// C = A Bᵀ; C must already have A.rows() x B.rows() entries.
void multiply_abt(const Eigen::Ref<const RowMatrixXd>& A, const Eigen::Ref<const RowMatrixXd>& B,
                  Eigen::Ref<RowMatrixXd> C);

// While alive, OpenBLAS runs each product on the calling thread only: for loops that already run
// one product per OpenMP thread (the fit's frames), where OpenBLAS' own threads would only contend
// (measured: 9 % of the kernel-row time in sched_yield). No effect with another BLAS.
class SingleThreadedBlas {
 public:
  SingleThreadedBlas();
  ~SingleThreadedBlas();
  SingleThreadedBlas(const SingleThreadedBlas&) = delete;
  SingleThreadedBlas& operator=(const SingleThreadedBlas&) = delete;

 private:
  int previous_ = 0;
};

}  // namespace soapgap
