// Assignment and REMatch reductions: brute force over permutations, plan marginals, limits.
#include <doctest/doctest.h>

#include <algorithm>
#include <numeric>
#include <random>

#include "soapgap/assignment.hpp"
#include "soapgap/error.hpp"
#include "soapgap/structure_kernel.hpp"

using namespace soapgap;

namespace {
RowMatrixXd random_matrix(int n, int m, unsigned seed) {
  std::mt19937 gen(seed);
  std::uniform_real_distribution<double> u(0, 1);
  RowMatrixXd a(n, m);
  for (int i = 0; i < n; ++i)
    for (int j = 0; j < m; ++j) a(i, j) = u(gen);
  return a;
}

// Minimum over all injective maps rows -> columns (m!/(m-n)! of them) by enumerating
// permutations of the columns and reading the first n.
double brute_force_minimum(const RowMatrixXd& c) {
  std::vector<int> cols(c.cols());
  std::iota(cols.begin(), cols.end(), 0);
  double best = 1e300;
  do {
    double s = 0;
    for (int i = 0; i < c.rows(); ++i) s += c(i, cols[i]);
    best = std::min(best, s);
  } while (std::next_permutation(cols.begin(), cols.end()));
  return best;
}
}  // namespace

TEST_CASE("linear_sum_assignment is optimal against brute force") {
  for (int n = 1; n <= 6; ++n)
    for (int m = n; m <= 7; ++m)
      for (unsigned seed = 0; seed < 5; ++seed) {
        RowMatrixXd c = random_matrix(n, m, 100 * n + 10 * m + seed);
        if (seed % 2) c = (c * 3).array().floor().matrix();  // many ties
        const std::vector<int> col = linear_sum_assignment(c);
        std::vector<int> sorted = col;
        std::sort(sorted.begin(), sorted.end());
        CHECK(std::adjacent_find(sorted.begin(), sorted.end()) == sorted.end());
        double s = 0;
        for (int i = 0; i < n; ++i) s += c(i, col[i]);
        CHECK(s == doctest::Approx(brute_force_minimum(c)).epsilon(1e-12));
      }
  CHECK_THROWS_AS(linear_sum_assignment(random_matrix(3, 2, 1)), Error);
}

TEST_CASE("REMatch plan has the uniform marginals; limits") {
  const RowMatrixXd C = random_matrix(5, 8, 7);
  for (double gamma : {1.0, 0.1, 0.01, 1e-3, 1e-4}) {
    const RowMatrixXd P = rematch_plan(C, {gamma, 1e-11, 100000});
    CHECK((P.rowwise().sum().array() - 1.0 / 5).abs().sum() < 1e-11);
    CHECK((P.colwise().sum().array() - 1.0 / 8).abs().sum() < 1e-12);
    CHECK(P.minCoeff() >= 0);
  }
  CHECK(rematch(C, {1e6, 1e-12, 1000}).value == doctest::Approx(C.mean()).epsilon(1e-6));
  const RowMatrixXd S = random_matrix(6, 6, 8);
  StructureKernelSettings bm;
  bm.kind = StructureKernelSettings::Kind::BestMatch;
  const double best = structure_kernel_value(S, bm);
  CHECK(rematch(S, {1e-4, 1e-10, 100000}).value == doctest::Approx(best).epsilon(1e-3));
  CHECK_THROWS_AS(rematch(S, {0.0, 1e-10, 10}), Error);
  CHECK_THROWS_AS(rematch(S, {1e-3, 1e-14, 2}), Error);  // iteration cap: an error, not a value
}
