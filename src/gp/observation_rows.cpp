#include "soapgap/observation_rows.hpp"

#include <algorithm>
#include <array>

#include "soapgap/parallel.hpp"

namespace soapgap {

namespace {

// Force and virial rows of one descriptor's environments against its sparse points, added into B.
// The kernel gradient of environment e is linear in its descriptor-gradient rows G_g
// (dk_e/dr = (G_g Sᵀ) ∘ w_e, w_e one factor per sparse point), so rows that enter only as sums
// within one environment are summed before the product: the virial rows
// W_kl = -Σ_g rel_gl dE/dr_gk are 6 product rows per environment (H = Σ_g rel_gl c_e G_gk) instead
// of 6 updates of M-long rows per neighbour, and each force row is written once.
void force_virial_rows(const DescriptorData& d, const RowMatrixXd& K, const Coordinate& co, ObservationKinds t,
                       int rF, int rV, int m0, RowMatrixXd& B, KernelRowBuffers& buf) {
  const int Mc = co.n_sparse(), D = d.dim;
  const int per_env_virial = t.virial ? 6 : 0;
  auto rows_of = [&](int e) { return (t.forces ? 3 * (d.grad_offset[e + 1] - d.grad_offset[e]) : 0) + per_env_virial; };
  // environments in chunks of about 1000 product rows (at most 64 MB), in reused buffers: the BLAS
  // packing of the sparse points is amortised, and the buffers stay small enough not to cost page
  // faults on every call
  int most = 1;
  for (int e = 0; e < d.size(); ++e) most = std::max(most, rows_of(e));
  const int max_rows = std::max(most, std::min(1024, (8 << 20) / std::max(Mc, 1)));
  if (buf.H.rows() < max_rows || buf.H.cols() != D) buf.H.resize(max_rows, D);
  if (buf.GR.rows() < max_rows || buf.GR.cols() != Mc) buf.GR.resize(max_rows, Mc);
  std::vector<int> env_of_row;
  for (int e0 = 0, e1 = 0; e0 < d.size(); e0 = e1) {
    int rows = rows_of(e0);
    for (e1 = e0 + 1; e1 < d.size() && rows + rows_of(e1) <= max_rows; ++e1) rows += rows_of(e1);
    env_of_row.clear();
    auto H = buf.H.topRows(rows);
    for (int e = e0, r = 0; e < e1; ++e) {
      const int g0 = d.grad_offset[e], g1 = d.grad_offset[e + 1];
      if (t.forces)
        for (int g = g0; g < g1; ++g)
          for (int c = 0; c < 3; ++c, ++r) H.row(r) = d.cutoff[e] * d.grad_values.row(3 * g + c);
      if (t.virial)
        for (int k = 0; k < 3; ++k)  // rows xx, yx, zx, yy, zy, zz: W(l,k) (gap_fit order)
          for (int l = k; l < 3; ++l, ++r) {
            H.row(r).setZero();
            for (int g = g0; g < g1; ++g) H.row(r) += (d.grad_rel(g, l) * d.cutoff[e]) * d.grad_values.row(3 * g + k);
          }
      env_of_row.insert(env_of_row.end(), rows_of(e), e - e0);
    }
    auto GR = buf.GR.topRows(rows);
    co.kernel.gradient_rows(d.values.middleRows(e0, e1 - e0), env_of_row, H, co.sparse, co.sparse_cutoff,
                            K.middleRows(e0, e1 - e0), GR);
    // B rows -= dE/dr (the cutoff's own gradient, for descriptors that carry one, adds dc/dr K_e)
    for (int e = e0, r = 0; e < e1; ++e) {
      const int g0 = d.grad_offset[e], g1 = d.grad_offset[e + 1];
      if (t.forces)
        for (int g = g0; g < g1; ++g)
          for (int c = 0; c < 3; ++c, ++r) {
            auto target = B.row(rF + 3 * d.grad_atom[g] + c).segment(m0, Mc);
            target -= GR.row(r);
            if (d.grad_cutoff(g, c) != 0.0) target -= d.grad_cutoff(g, c) * K.row(e);
          }
      if (t.virial)
        for (int k = 0, q = 0; k < 3; ++k)
          for (int l = k; l < 3; ++l, ++r, ++q) {
            auto target = B.row(rV + q).segment(m0, Mc);
            target -= GR.row(r);
            double gc = 0.0;
            for (int g = g0; g < g1; ++g) gc += d.grad_rel(g, l) * d.grad_cutoff(g, k);
            if (gc != 0.0) target -= gc * K.row(e);
          }
    }
  }
}

}  // namespace

void add_observation_rows(const DescriptorData& d, const Coordinate& co, ObservationKinds kinds, int n_atoms, int m0,
                          RowMatrixXd& B, KernelRowBuffers& buf) {
  if (d.size() == 0) return;
  const int Mc = co.n_sparse();
  const RowMatrixXd K = co.kernel.matrix(d.values, co.sparse, co.sparse_cutoff);
  if (kinds.energy)
    for (int e = 0; e < d.size(); ++e) B.row(0).segment(m0, Mc) += d.cutoff[e] * K.row(e);
  if (kinds.forces || kinds.virial)
    force_virial_rows(d, K, co, kinds, kinds.force_row(0, 0), kinds.virial_row(n_atoms), m0, B, buf);
}

double energy_prior(const DescriptorData& d, const Kernel& kernel) {
  const int ne = d.size();
  const Eigen::VectorXd fc = Eigen::Map<const Eigen::VectorXd>(d.cutoff.data(), ne);
  constexpr int kBlock = 2048;
  double sum = 0.0;
  for (int a = 0; a < ne; a += kBlock)
    for (int b = 0; b < ne; b += kBlock) {
      const int na = std::min(kBlock, ne - a), nb = std::min(kBlock, ne - b);
      sum += fc.segment(a, na).dot(kernel.prior(d.values.middleRows(a, na), d.values.middleRows(b, nb)) * fc.segment(b, nb));
    }
  return sum;
}

Eigen::VectorXd derivative_prior(const DescriptorData& d, const Kernel& kernel, ObservationKinds kinds, int n_atoms) {
  const int nf = kinds.forces ? 3 * n_atoms : 0;
  Eigen::VectorXd out = Eigen::VectorXd::Zero(nf + (kinds.virial ? 6 : 0));
  const int ne = d.size(), D = d.dim;
  if (ne == 0) return out;
  const Eigen::VectorXd c = Eigen::Map<const Eigen::VectorXd>(d.cutoff.data(), ne);
  if (kinds.forces) {
    // the environments each atom's position enters (entries in environment order)
    std::vector<std::vector<int>> entries(n_atoms);
    for (int e = 0; e < ne; ++e)
      for (int g = d.grad_offset[e]; g < d.grad_offset[e + 1]; ++g) entries[d.grad_atom[g]].push_back(g);
    std::vector<int> env_of(d.grad_atom.size());
    for (int e = 0; e < ne; ++e)
      for (int g = d.grad_offset[e]; g < d.grad_offset[e + 1]; ++g) env_of[g] = e;
    ExceptionCollector errors;
#pragma omp parallel for schedule(dynamic)
    for (int a = 0; a < n_atoms; ++a) errors.run([&] {
      // one row per environment: an atom entering one environment several times (periodic
      // images in a small cell) has its entries summed
      std::vector<int> envs;
      for (int g : entries[a])
        if (envs.empty() || envs.back() != env_of[g]) envs.push_back(env_of[g]);
      const int n = static_cast<int>(envs.size());
      if (n == 0) return;
      // one gram matrix of [x; g_x; g_y; g_z] (in the kernel's metric) holds every product
      RowMatrixXd Z = RowMatrixXd::Zero(4 * n, D);
      Eigen::VectorXd ce(n);
      RowMatrixXd u = RowMatrixXd::Zero(3, n);
      for (int k = 0; k < n; ++k) Z.row(k) = d.values.row(envs[k]), ce[k] = c[envs[k]];
      for (int g : entries[a]) {
        const int k = static_cast<int>(std::find(envs.begin(), envs.end(), env_of[g]) - envs.begin());
        for (int comp = 0; comp < 3; ++comp) {
          Z.row((1 + comp) * n + k) += d.grad_values.row(3 * g + comp);
          u(comp, k) += d.grad_cutoff(g, comp);
        }
      }
      Z = kernel.metric_scaled(Z);
      RowMatrixXd gram(4 * n, 4 * n);
      gram.triangularView<Eigen::Lower>() = Z * Z.transpose();
      gram.triangularView<Eigen::StrictlyUpper>() = gram.transpose();
      Kernel::DerivativeProducts p;
      p.Q = gram.topLeftCorner(n, n);
      p.xa2 = p.xb2 = p.Q.diagonal();
      for (int comp = 0; comp < 3; ++comp) {
        const int o = (1 + comp) * n;
        p.P = gram.block(o, o, n, n);
        p.A1 = gram.block(o, 0, n, n);
        p.A2 = gram.block(0, o, n, n);
        p.ga_xa = p.A1.diagonal();
        p.xb_gb = p.A2.diagonal();
        const Eigen::VectorXd uc = u.row(comp).transpose();
        out[3 * a + comp] = kernel.derivative_covariance(p, ce, uc, ce, uc);
      }
    });
    errors.rethrow();
  }
  if (kinds.virial) {
    // per environment, the derivative along each virial component: Σ_g rel_gl ∂/∂r_gk, in the
    // kernel's metric (the scaled coordinates are shared by the six components)
    const RowMatrixXd X = kernel.metric_scaled(d.values);
    const Eigen::VectorXd x2 = X.rowwise().squaredNorm();
    std::array<RowMatrixXd, 6> G;
    std::array<Eigen::VectorXd, 6> u;
    for (int k = 0, q = 0; k < 3; ++k)
      for (int l = k; l < 3; ++l, ++q) {
        G[q] = RowMatrixXd::Zero(ne, D);
        u[q] = Eigen::VectorXd::Zero(ne);
        for (int e = 0; e < ne; ++e)
          for (int g = d.grad_offset[e]; g < d.grad_offset[e + 1]; ++g) {
            G[q].row(e) += d.grad_rel(g, l) * d.grad_values.row(3 * g + k);
            u[q][e] += d.grad_rel(g, l) * d.grad_cutoff(g, k);
          }
        G[q] = kernel.metric_scaled(G[q]);
      }
    // all pairs of environments, in blocks (bounded memory); one partial sum per block pair and
    // component, added in order: the same result for any thread count
    constexpr int kBlock = 1024;
    const int nb = (ne + kBlock - 1) / kBlock;
    std::vector<std::array<double, 6>> part(static_cast<size_t>(nb) * nb);
    ExceptionCollector errors;
#pragma omp parallel for schedule(dynamic)
    for (int ij = 0; ij < nb * nb; ++ij)
      errors.run([&] {
        const int a0 = (ij / nb) * kBlock, na = std::min(kBlock, ne - a0);
        const int b0 = (ij % nb) * kBlock, nbk = std::min(kBlock, ne - b0);
        const auto Xa = X.middleRows(a0, na), Xb = X.middleRows(b0, nbk);
        Kernel::DerivativeProducts p;
        p.Q = Xa * Xb.transpose();
        p.xa2 = x2.segment(a0, na);
        p.xb2 = x2.segment(b0, nbk);
        for (int q = 0; q < 6; ++q) {
          const auto Ga = G[q].middleRows(a0, na), Gb = G[q].middleRows(b0, nbk);
          p.P = Ga * Gb.transpose();
          p.A1 = Ga * Xb.transpose();
          p.A2 = Xa * Gb.transpose();
          p.ga_xa = (Ga.array() * Xa.array()).rowwise().sum();
          p.xb_gb = (Xb.array() * Gb.array()).rowwise().sum();
          part[ij][q] = kernel.derivative_covariance(p, c.segment(a0, na), u[q].segment(a0, na), c.segment(b0, nbk),
                                                     u[q].segment(b0, nbk));
        }
      });
    errors.rethrow();
    for (int q = 0; q < 6; ++q) {
      double sum = 0.0;
      for (const auto& pq : part) sum += pq[q];
      out[nf + q] = sum;
    }
  }
  return out;
}

}  // namespace soapgap
