// The triangular factor of a tall least-squares system, built without holding the system:
// StreamingQR folds blocks of rows into the M x M factor R (memory O(M² + block·M)) with the
// structured QR of [R; block] (LAPACK dtpqrt: 2·block·M² flops, whatever the block size, where
// dgeqrf on the stacked matrix also refactors R: 2(M+block)M² − 2M³/3); across ranks
// the per-rank factors are merged by a binary reduction tree (TSQR: Demmel, Grigori, Hoemmen &
// Langou, SIAM J. Sci. Comput. 34, A206 (2012)), log₂P steps of one triangle each.
#pragma once
#include "soapgap/communicator.hpp"

namespace soapgap {

class StreamingQR : public RowFactorizer {
 public:
  // R0: initial rows (e.g. Lᵀ of the prior, on one rank only); m: number of columns.
  StreamingQR(const Eigen::MatrixXd& R0, int m, const Communicator& comm = serial_communicator());
  // Continuing a factor (R0, Qᵀb so far): its residual is not carried over.
  StreamingQR(const Eigen::MatrixXd& R0, int m, const Eigen::VectorXd& qtb0);
  void add(Eigen::MatrixXd B, Eigen::VectorXd b) override;
  // Collective: merges every rank's factor onto rank 0.
  TriangularFactor finish() override;

 private:
  int m_;
  const Communicator& comm_;
  Eigen::MatrixXd R_;
  Eigen::VectorXd qtb_;
  double residual2_ = 0.0;
};

// The factor of [A₁; A₂] from those of A₁ and A₂, as augmented triangles [[R, Qᵀb], [0, ρ]]
// ((M+1) x (M+1), ρ² the residual): one structured QR (LAPACK dtpqrt, 2/3 (M+1)³ flops instead
// of dgeqrf's 10/3 on the stacked 2(M+1) x (M+1) matrix). Result in `top`.
void merge_triangles(Eigen::MatrixXd& top, Eigen::MatrixXd& bottom);

}  // namespace soapgap
