// Test structures and finite-difference helpers shared by the C++ unit tests.
#pragma once
#include <random>

#include "soapgap/structure.hpp"

namespace soapgap::test {

// fcc conventional cell repeated reps times, rattled with Gaussian noise of width `rattle`.
inline Structure fcc(double a, int reps, double rattle, unsigned seed, int z = 29) {
  Structure s;
  const double basis[4][3] = {{0, 0, 0}, {0.5, 0.5, 0}, {0.5, 0, 0.5}, {0, 0.5, 0.5}};
  std::mt19937 rng(seed);
  std::normal_distribution<double> g(0.0, rattle);
  const int n = 4 * reps * reps * reps;
  s.positions.resize(n, 3);
  int k = 0;
  for (int i = 0; i < reps; ++i)
    for (int j = 0; j < reps; ++j)
      for (int l = 0; l < reps; ++l)
        for (const auto& b : basis) {
          s.positions.row(k) << (i + b[0]) * a + g(rng), (j + b[1]) * a + g(rng), (l + b[2]) * a + g(rng);
          s.numbers.push_back(z);
          ++k;
        }
  s.cell = Eigen::Matrix3d::Identity() * a * reps;
  s.pbc = {true, true, true};
  return s;
}

// Random rotation matrix (QR of a Gaussian matrix, det +1).
inline Eigen::Matrix3d rotation(unsigned seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<double> g;
  Eigen::Matrix3d m;
  for (int i = 0; i < 9; ++i) m.data()[i] = g(rng);
  Eigen::HouseholderQR<Eigen::Matrix3d> qr(m);
  Eigen::Matrix3d q = qr.householderQ();
  if (q.determinant() < 0) q.col(0) *= -1;
  return q;
}

// Apply the deformation (I + eps) to positions and cell.
inline Structure strained(const Structure& s, const Eigen::Matrix3d& eps) {
  Structure t = s;
  const Eigen::Matrix3d F = Eigen::Matrix3d::Identity() + eps;
  t.positions = s.positions * F.transpose();
  t.cell = s.cell * F.transpose();
  return t;
}

// The same crystal as a 2x1x1 supercell: atoms n..2n-1 are atoms 0..n-1 shifted by the first
// lattice vector.
inline Structure doubled_along_a(const Structure& s) {
  const int n = s.size();
  Structure big = s;
  big.positions.resize(2 * n, 3);
  big.positions.topRows(n) = s.positions;
  big.positions.bottomRows(n) = s.positions.rowwise() + s.cell.row(0);
  big.numbers.insert(big.numbers.end(), s.numbers.begin(), s.numbers.end());
  big.cell.row(0) *= 2;
  return big;
}

}  // namespace soapgap::test
