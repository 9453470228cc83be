#include "soapgap/blas.hpp"

#include "soapgap/error.hpp"

extern "C" void dgemm_(const char* transa, const char* transb, const int* m, const int* n, const int* k,
                       const double* alpha, const double* a, const int* lda, const double* b, const int* ldb,
                       const double* beta, double* c, const int* ldc);
// OpenBLAS' thread controls, if the BLAS linked is OpenBLAS (weak: null otherwise)
extern "C" void openblas_set_num_threads(int) __attribute__((weak));
extern "C" int openblas_get_num_threads() __attribute__((weak));

namespace soapgap {

void multiply_abt(const Eigen::Ref<const RowMatrixXd>& A, const Eigen::Ref<const RowMatrixXd>& B,
                  Eigen::Ref<RowMatrixXd> C) {
  if (A.cols() != B.cols() || C.rows() != A.rows() || C.cols() != B.rows())
    throw Error("multiply_abt: shapes do not match");
  const int m = static_cast<int>(A.rows()), n = static_cast<int>(B.rows()), k = static_cast<int>(A.cols());
  if (m == 0 || n == 0) return;
  if (k == 0) {
    C.setZero();
    return;
  }
  const int lda = static_cast<int>(A.outerStride()), ldb = static_cast<int>(B.outerStride()),
            ldc = static_cast<int>(C.outerStride());
  const double one = 1, zero = 0;
  // row-major C (m x n) is column-major Cᵀ (n x m) = B Aᵀ, B being column-major k x n seen transposed
  dgemm_("T", "N", &n, &m, &k, &one, B.data(), &ldb, A.data(), &lda, &zero, C.data(), &ldc);
}

SingleThreadedBlas::SingleThreadedBlas() {
  if (openblas_set_num_threads && openblas_get_num_threads) {
    previous_ = openblas_get_num_threads();
    openblas_set_num_threads(1);
  }
}

SingleThreadedBlas::~SingleThreadedBlas() {
  if (previous_ > 0) openblas_set_num_threads(previous_);
}

}  // namespace soapgap
