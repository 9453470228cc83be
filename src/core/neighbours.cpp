#include "soapgap/neighbours.hpp"

#include <algorithm>
#include <cmath>
#include <sstream>

#include "soapgap/error.hpp"

namespace soapgap {

namespace {

// Cell-list search: neighbours of the first n rows of `pos` among all rows; row p is atom idx[p]
// (rows beyond n are periodic images).
NeighbourList bin_and_search(const Structure& s, const Positions& pos, const std::vector<int>& idx, int n, double cutoff,
                             double min_distance) {
  NeighbourList nl;
  nl.offset.assign(n + 1, 0);
  if (n == 0) return nl;
  const int total = static_cast<int>(pos.rows());
  const Eigen::Vector3d lo = pos.colwise().minCoeff(), hi = pos.colwise().maxCoeff();
  if (!lo.allFinite() || !hi.allFinite()) throw Error(s.where() + "positions or cell too extreme for a neighbour search");
  double bin = cutoff;
  auto nbins = [&](double b) {  // in double: extents can be huge for sparse or corrupt input
    double n = 1.0;
    for (int k = 0; k < 3; ++k) n *= std::floor((hi[k] - lo[k]) / b) + 1.0;
    return n;
  };
  while (nbins(bin) > 8.0 * total + 27) bin *= 1.5;  // bounded memory for sparse systems
  std::array<int, 3> nb;
  for (int k = 0; k < 3; ++k) nb[k] = static_cast<int>(std::floor((hi[k] - lo[k]) / bin)) + 1;
  std::vector<int> head(static_cast<size_t>(nb[0]) * nb[1] * nb[2], -1), next(total, -1);
  std::vector<std::array<int, 3>> cellof(total);
  for (int p = 0; p < total; ++p) {
    std::array<int, 3> c;
    for (int k = 0; k < 3; ++k) c[k] = std::min(nb[k] - 1, static_cast<int>((pos(p, k) - lo[k]) / bin));
    cellof[p] = c;
    const size_t h = (static_cast<size_t>(c[0]) * nb[1] + c[1]) * nb[2] + c[2];
    next[p] = head[h];
    head[h] = p;
  }
  const double cut2 = cutoff * cutoff;
  for (int i = 0; i < n; ++i) {
    const auto& c = cellof[i];
    const size_t start = nl.list.size();
    for (int dx = -1; dx <= 1; ++dx)
      for (int dy = -1; dy <= 1; ++dy)
        for (int dz = -1; dz <= 1; ++dz) {
          const int x = c[0] + dx, y = c[1] + dy, z = c[2] + dz;
          if (x < 0 || y < 0 || z < 0 || x >= nb[0] || y >= nb[1] || z >= nb[2]) continue;
          for (int p = head[(static_cast<size_t>(x) * nb[1] + y) * nb[2] + z]; p >= 0; p = next[p]) {
            if (p == i) continue;
            const Eigen::Vector3d d = pos.row(p) - pos.row(i);
            const double r2 = d.squaredNorm();
            if (r2 >= cut2) continue;
            const double r = std::sqrt(r2);
            if (r < min_distance) {
              std::ostringstream m;
              m << s.where() << "atoms " << i << " and " << idx[p] << (p >= n ? " (periodic image)" : "")
                << " overlap: distance " << r << " Å is below " << min_distance << " Å";
              throw Error(m.str());
            }
            nl.list.push_back({idx[p], d, r});
          }
        }
    // deterministic order: by neighbour index, then by vector
    std::sort(nl.list.begin() + start, nl.list.end(), [](const Neighbour& a, const Neighbour& b) {
      if (a.j != b.j) return a.j < b.j;
      for (int k = 0; k < 3; ++k)
        if (a.rij[k] != b.rij[k]) return a.rij[k] < b.rij[k];
      return false;
    });
    nl.offset[i + 1] = static_cast<int>(nl.list.size());
  }
  return nl;
}

}  // namespace

NeighbourList build_neighbour_list(const Structure& s, double cutoff, double min_distance) {
  if (!(cutoff > 0)) throw Error("neighbour list: cutoff must be positive, got " + std::to_string(cutoff));
  s.validate();
  const int n = s.size();
  std::vector<int> idx(n);
  for (int i = 0; i < n; ++i) idx[i] = i;
  if (!(s.pbc[0] || s.pbc[1] || s.pbc[2])) return bin_and_search(s, s.positions, idx, n, cutoff, min_distance);

  // Non-periodic directions without a lattice vector get an orthogonal placeholder so the cell
  // can be inverted; those directions are never wrapped or imaged.
  const Eigen::Matrix3d cell = s.completed_cell();
  const Eigen::Matrix3d inv = cell.inverse();  // frac = pos * inv
  // Images needed per periodic direction from the distance between lattice planes, h_k = 1/|b_k|.
  std::array<int, 3> nimg{0, 0, 0};
  std::array<double, 3> skin{0, 0, 0};
  double n_images = 1.0;
  for (int k = 0; k < 3; ++k) {
    if (!s.pbc[k]) continue;
    skin[k] = cutoff * inv.col(k).norm();
    n_images *= 2.0 * std::ceil(skin[k]) + 1.0;
  }
  if (n_images * std::max(n, 1) > 5e7)
    throw Error(s.where() + "a cutoff of " + std::to_string(cutoff) + " Å needs " + std::to_string(n_images) +
                " periodic images of this cell: too many (check the cutoff and the field 'Lattice')");
  for (int k = 0; k < 3; ++k) nimg[k] = static_cast<int>(std::ceil(skin[k]));
  Positions frac = s.positions * inv;
  for (int i = 0; i < n; ++i)
    for (int k = 0; k < 3; ++k)
      if (s.pbc[k]) frac(i, k) -= std::floor(frac(i, k));
  // Real atoms (wrapped) first, then the images that fall inside the skin around the cell.
  std::vector<Eigen::Vector3d> rows;
  rows.reserve(static_cast<size_t>(n) * 2);
  for (int i = 0; i < n; ++i) rows.push_back((frac.row(i) * cell).transpose());
  for (int a = -nimg[0]; a <= nimg[0]; ++a)
    for (int b = -nimg[1]; b <= nimg[1]; ++b)
      for (int c = -nimg[2]; c <= nimg[2]; ++c) {
        if (a == 0 && b == 0 && c == 0) continue;
        const int sh[3] = {a, b, c};
        const Eigen::Vector3d shift = (a * cell.row(0) + b * cell.row(1) + c * cell.row(2)).transpose();
        for (int i = 0; i < n; ++i) {
          bool keep = true;
          for (int k = 0; k < 3 && keep; ++k)
            if (s.pbc[k]) keep = frac(i, k) + sh[k] > -skin[k] && frac(i, k) + sh[k] < 1.0 + skin[k];
          if (keep) {
            idx.push_back(i);
            rows.push_back(rows[i] + shift);
          }
        }
      }
  Positions pos(rows.size(), 3);
  for (size_t r = 0; r < rows.size(); ++r) pos.row(r) = rows[r].transpose();
  return bin_and_search(s, pos, idx, n, cutoff, min_distance);
}

}  // namespace soapgap
