#include <doctest/doctest.h>

#include "soapgap/blas.hpp"

using namespace soapgap;

TEST_CASE("multiply_abt equals Eigen's A Bᵀ, also on row blocks and with an empty inner dimension") {
  const RowMatrixXd A = RowMatrixXd::Random(37, 11), B = RowMatrixXd::Random(23, 11);
  RowMatrixXd C(37, 23);
  multiply_abt(A, B, C);
  CHECK((C - A * B.transpose()).cwiseAbs().maxCoeff() < 1e-13);
  // row blocks of larger matrices (the fit passes middleRows / topRows of reused buffers)
  RowMatrixXd big = RowMatrixXd::Constant(50, 23, 7.0);
  multiply_abt(A.middleRows(5, 20), B.middleRows(3, 9), big.block(10, 0, 20, 9));
  CHECK((big.block(10, 0, 20, 9) - A.middleRows(5, 20) * B.middleRows(3, 9).transpose()).cwiseAbs().maxCoeff() < 1e-13);
  CHECK(big(9, 0) == 7.0);
  CHECK(big(30, 0) == 7.0);
  const RowMatrixXd A0(4, 0), B0(3, 0);
  RowMatrixXd Z = RowMatrixXd::Constant(4, 3, 1.0);
  multiply_abt(A0, B0, Z);
  CHECK(Z.cwiseAbs().maxCoeff() == 0.0);
  RowMatrixXd wrong(4, 4);
  CHECK_THROWS(multiply_abt(A, B, wrong));
  { const SingleThreadedBlas serial; multiply_abt(A, B, C); }  // also under the single-thread guard
  CHECK((C - A * B.transpose()).cwiseAbs().maxCoeff() < 1e-13);
}
