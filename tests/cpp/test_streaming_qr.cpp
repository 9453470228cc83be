// The streaming QR fold (dtpqrt) and the TSQR merge of augmented triangles against a dense
// least-squares solve of the whole system.
#include <doctest/doctest.h>

#include <Eigen/Dense>

#include "soapgap/streaming_qr.hpp"

using namespace soapgap;

namespace {

struct Problem {
  Eigen::MatrixXd A;
  Eigen::VectorXd b;
};

Problem random_problem(int rows, int cols, unsigned seed) {
  std::srand(seed);
  return {Eigen::MatrixXd::Random(rows, cols), Eigen::VectorXd::Random(rows)};
}

// Folds rows [r0, r1) of p in blocks of `block` rows.
TriangularFactor fold(const Problem& p, int r0, int r1, int block) {
  StreamingQR qr(Eigen::MatrixXd(), static_cast<int>(p.A.cols()));
  for (int r = r0; r < r1; r += block) {
    const int n = std::min(block, r1 - r);
    qr.add(p.A.middleRows(r, n), p.b.segment(r, n));
  }
  return qr.finish();
}

}  // namespace

TEST_CASE("streaming QR: the folded factor solves the least-squares problem, any block size") {
  const Problem p = random_problem(157, 23, 3);
  const Eigen::VectorXd x = p.A.colPivHouseholderQr().solve(p.b);
  const double res2 = (p.A * x - p.b).squaredNorm();
  for (int block : {1, 7, 23, 64, 157}) {
    const TriangularFactor f = fold(p, 0, 157, block);
    const Eigen::VectorXd y = f.R.triangularView<Eigen::Upper>().solve(f.qtb);
    CHECK((y - x).norm() < 1e-12 * x.norm());
    CHECK(std::abs(f.residual2 - res2) < 1e-10 * res2);
    CHECK((f.R.transpose() * f.R - p.A.transpose() * p.A).norm() < 1e-12 * (p.A.transpose() * p.A).norm());
  }
}

TEST_CASE("TSQR merge: two augmented triangles give the factor of the stacked rows") {
  const Problem p = random_problem(120, 17, 5);
  const int m = 17, n = m + 1;
  auto augmented = [&](const TriangularFactor& f) {
    Eigen::MatrixXd a = Eigen::MatrixXd::Zero(n, n);
    a.topLeftCorner(m, m) = f.R.triangularView<Eigen::Upper>();
    a.col(m).head(m) = f.qtb;
    a(m, m) = std::sqrt(f.residual2);
    return a;
  };
  Eigen::MatrixXd top = augmented(fold(p, 0, 50, 16)), bottom = augmented(fold(p, 50, 120, 16));
  merge_triangles(top, bottom);
  const TriangularFactor whole = fold(p, 0, 120, 120);
  const Eigen::MatrixXd R = top.topLeftCorner(m, m);
  const Eigen::VectorXd y = R.triangularView<Eigen::Upper>().solve(top.col(m).head(m));
  const Eigen::VectorXd x = whole.R.triangularView<Eigen::Upper>().solve(whole.qtb);
  CHECK((y - x).norm() < 1e-12 * x.norm());
  CHECK(std::abs(top(m, m) * top(m, m) - whole.residual2) < 1e-10 * whole.residual2);
  CHECK(top.triangularView<Eigen::StrictlyLower>().toDenseMatrix().isZero(0));
}
