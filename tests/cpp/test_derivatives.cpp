// Finite-difference checks of every derivative layer, independent of the other test files:
// kernel gradients against Kernel::matrix, descriptor gradients per component (values, cutoff,
// strain through grad_rel), and model forces/virials against the energy (angle_3b, cells smaller
// than the cutoff, two species). Central differences, h = 1e-5; each check reports its worst
// relative error (error / largest analytic entry of the same quantity).
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <random>
#include <sstream>

#include "helpers.hpp"
#include "soapgap/descriptor.hpp"
#include "soapgap/kernel.hpp"
#include "soapgap/potential.hpp"

using namespace soapgap;

namespace {

constexpr double kH = 1e-5;

RowMatrixXd random_matrix(int r, int c, std::mt19937& rng, double lo, double hi) {
  std::uniform_real_distribution<double> u(lo, hi);
  RowMatrixXd m(r, c);
  for (int i = 0; i < r; ++i)
    for (int k = 0; k < c; ++k) m(i, k) = u(rng);
  return m;
}

// ---------------------------------------------------------------------------------------------
// kernel level

struct KernelFd {
  double weighted = 0.0;  // weighted_gradient vs FD of matrix(X) w
  double rows = 0.0;      // gradient_rows vs FD of matrix along G_r
  double consistency = 0.0;  // gradient_rows with unit G rows, summed with w, vs weighted_gradient
};

KernelFd kernel_fd(const Kernel& k, const RowMatrixXd& X, const RowMatrixXd& S, const Eigen::VectorXd& c,
                   std::mt19937& rng) {
  const int n = static_cast<int>(X.rows()), d = static_cast<int>(X.cols()), M = static_cast<int>(S.rows());
  KernelFd out;
  const RowMatrixXd K = k.matrix(X, S, c);
  const Eigen::VectorXd w = random_matrix(M, 1, rng, -1.0, 1.0);
  const RowMatrixXd WG = k.weighted_gradient(X, S, c, K, w);
  REQUIRE(WG.rows() == n);
  REQUIRE(WG.cols() == d);
  double err = 0.0;
  for (int i = 0; i < n; ++i)
    for (int a = 0; a < d; ++a) {
      RowMatrixXd Xp = X, Xm = X;
      Xp(i, a) += kH;
      Xm(i, a) -= kH;
      const double fd = (k.matrix(Xp, S, c).row(i).dot(w) - k.matrix(Xm, S, c).row(i).dot(w)) / (2 * kH);
      err = std::max(err, std::abs(fd - WG(i, a)));
    }
  out.weighted = err / WG.cwiseAbs().maxCoeff();

  // gradient rows: 3 random directions per environment, environments in scrambled order
  const int nr = 3 * n;
  const RowMatrixXd G = random_matrix(nr, d, rng, -1.0, 1.0);
  std::vector<int> env(nr);
  for (int r = 0; r < nr; ++r) env[r] = (7 * r + 3) % n;
  RowMatrixXd GR(G.rows(), S.rows());
  k.gradient_rows(X, env, G, S, c, K, GR);
  REQUIRE(GR.rows() == nr);
  REQUIRE(GR.cols() == M);
  err = 0.0;
  for (int r = 0; r < nr; ++r) {
    RowMatrixXd Xp = X, Xm = X;
    Xp.row(env[r]) += kH * G.row(r);
    Xm.row(env[r]) -= kH * G.row(r);
    const Eigen::RowVectorXd fd = (k.matrix(Xp, S, c).row(env[r]) - k.matrix(Xm, S, c).row(env[r])) / (2 * kH);
    err = std::max(err, (fd - GR.row(r)).cwiseAbs().maxCoeff());
  }
  out.rows = err / GR.cwiseAbs().maxCoeff();

  // the two entry points agree: unit directions e_a give columns of dk/dx
  const RowMatrixXd I = RowMatrixXd::Identity(d, d);
  RowMatrixXd Gall(n * d, d);
  std::vector<int> env_all(n * d);
  for (int i = 0; i < n; ++i) {
    Gall.middleRows(i * d, d) = I;
    for (int a = 0; a < d; ++a) env_all[i * d + a] = i;
  }
  RowMatrixXd GRall(Gall.rows(), S.rows());
  k.gradient_rows(X, env_all, Gall, S, c, K, GRall);
  err = 0.0;
  for (int i = 0; i < n; ++i)
    for (int a = 0; a < d; ++a) err = std::max(err, std::abs(GRall.row(i * d + a).dot(w) - WG(i, a)));
  out.consistency = err / WG.cwiseAbs().maxCoeff();
  return out;
}

// ---------------------------------------------------------------------------------------------
// descriptor level

// Worst relative errors over all environments, per component k (error_k / max |analytic_k|),
// of: d values/d r_atom, d cutoff/d r_atom, and the strain derivatives d x/dε_ab = Σ_g dx/dr_{g,a} rel_{g,b}.
struct DescriptorFd {
  Eigen::VectorXd values, strain;  // per component
  double cutoff = 0.0, cutoff_strain = 0.0;
  int n_env = 0;
  std::string report() const {
    std::ostringstream o;
    o << n_env << " environments; per-component relative errors: positions [" << values.transpose() << "], strain ["
      << strain.transpose() << "], cutoff " << cutoff << ", cutoff strain " << cutoff_strain;
    return o.str();
  }
  double worst() const {
    return std::max({values.maxCoeff(), strain.maxCoeff(), cutoff, cutoff_strain});
  }
};

DescriptorData compute(const Descriptor& desc, const Structure& s, bool grads) {
  return desc.compute(s, build_neighbour_list(s, desc.cutoff()), grads);
}

// For each environment of `base`, its index in `other` (the same structure slightly displaced or
// strained). Environments are matched by their atom list ci when that is unique (SOAP: one
// environment per centre), else also by the differentiated atoms and their image vectors
// grad_rel (which move by O(h)), not by position in the list: the neighbour order among periodic
// images (sorted by vector components) may legitimately change under a strain.
std::vector<int> match_environments(const DescriptorData& base, const DescriptorData& other) {
  REQUIRE(base.size() == other.size());  // no environment crossed the cutoff
  std::vector<int> out(base.size(), -1);
  std::vector<bool> used(other.size(), false);
  auto ci_of = [](const DescriptorData& d, int e) {
    return std::vector<int>(d.ci.begin() + d.ci_offset[e], d.ci.begin() + d.ci_offset[e + 1]);
  };
  std::map<std::vector<int>, int> ci_count;
  for (int e = 0; e < base.size(); ++e) ++ci_count[ci_of(base, e)];
  auto same = [&](int e, int f) {
    const std::vector<int> ci = ci_of(base, e);
    if (ci != ci_of(other, f)) return false;
    if (ci_count[ci] == 1) return true;
    const int ng = base.grad_offset[e + 1] - base.grad_offset[e];
    if (ng != other.grad_offset[f + 1] - other.grad_offset[f]) return false;
    for (int k = 0; k < ng; ++k) {
      const int g = base.grad_offset[e] + k, h = other.grad_offset[f] + k;
      if (base.grad_atom[g] != other.grad_atom[h]) return false;
      if ((base.grad_rel.row(g) - other.grad_rel.row(h)).cwiseAbs().maxCoeff() > 1e-3) return false;
    }
    return true;
  };
  for (int e = 0; e < base.size(); ++e) {
    // the same position in the list first (the usual case), then a search
    if (!used[e] && same(e, e)) {
      out[e] = e;
      used[e] = true;
      continue;
    }
    for (int f = 0; f < other.size(); ++f)
      if (!used[f] && same(e, f)) {
        out[e] = f;
        used[f] = true;
        break;
      }
    REQUIRE(out[e] >= 0);
  }
  return out;
}

DescriptorFd descriptor_fd(const Descriptor& desc, const Structure& s, bool check_cutoff) {
  const DescriptorData d = compute(desc, s, true);
  REQUIRE(d.size() > 0);
  REQUIRE(d.has_gradients());
  const int n = s.size(), dim = d.dim, ne = d.size();
  // analytic position derivatives summed per (env, atom): images of one atom move together
  std::vector<RowMatrixXd> an(3, RowMatrixXd::Zero(static_cast<Eigen::Index>(ne) * n, dim));
  std::vector<Eigen::VectorXd> anc(3, Eigen::VectorXd::Zero(static_cast<Eigen::Index>(ne) * n));
  // analytic strain derivatives
  RowMatrixXd ans[3][3];
  Eigen::VectorXd ansc[3][3];
  for (int a = 0; a < 3; ++a)
    for (int b = 0; b < 3; ++b) {
      ans[a][b] = RowMatrixXd::Zero(ne, dim);
      ansc[a][b] = Eigen::VectorXd::Zero(ne);
    }
  for (int e = 0; e < ne; ++e)
    for (int g = d.grad_offset[e]; g < d.grad_offset[e + 1]; ++g)
      for (int a = 0; a < 3; ++a) {
        an[a].row(static_cast<Eigen::Index>(e) * n + d.grad_atom[g]) += d.grad_values.row(3 * g + a);
        anc[a][static_cast<Eigen::Index>(e) * n + d.grad_atom[g]] += d.grad_cutoff(g, a);
        for (int b = 0; b < 3; ++b) {
          ans[a][b].row(e) += d.grad_rel(g, b) * d.grad_values.row(3 * g + a);
          ansc[a][b][e] += d.grad_rel(g, b) * d.grad_cutoff(g, a);
        }
      }
  Eigen::VectorXd err = Eigen::VectorXd::Zero(dim), scale = Eigen::VectorXd::Zero(dim);
  double errc = 0.0, scalec = 0.0;
  for (int i = 0; i < n; ++i)
    for (int a = 0; a < 3; ++a) {
      Structure p = s, m = s;
      p.positions(i, a) += kH;
      m.positions(i, a) -= kH;
      const DescriptorData dp = compute(desc, p, true), dm = compute(desc, m, true);
      const std::vector<int> ip = match_environments(d, dp), im = match_environments(d, dm);
      for (int e = 0; e < ne; ++e) {
        const Eigen::RowVectorXd fd = (dp.values.row(ip[e]) - dm.values.row(im[e])) / (2 * kH);
        const auto row = an[a].row(static_cast<Eigen::Index>(e) * n + i);
        err = err.cwiseMax((fd - row).cwiseAbs().transpose());
        scale = scale.cwiseMax(row.cwiseAbs().transpose());
        const double fdc = (dp.cutoff[ip[e]] - dm.cutoff[im[e]]) / (2 * kH);
        errc = std::max(errc, std::abs(fdc - anc[a][static_cast<Eigen::Index>(e) * n + i]));
        scalec = std::max(scalec, std::abs(anc[a][static_cast<Eigen::Index>(e) * n + i]));
      }
    }
  Eigen::VectorXd errs = Eigen::VectorXd::Zero(dim), scales = Eigen::VectorXd::Zero(dim);
  double errsc = 0.0, scalesc = 0.0;
  for (int a = 0; a < 3; ++a)
    for (int b = 0; b < 3; ++b) {
      Eigen::Matrix3d eps = Eigen::Matrix3d::Zero();
      eps(a, b) = kH;
      const DescriptorData dp = compute(desc, test::strained(s, eps), true);
      const DescriptorData dm = compute(desc, test::strained(s, -eps), true);
      const std::vector<int> ip = match_environments(d, dp), im = match_environments(d, dm);
      for (int e = 0; e < ne; ++e) {
        const Eigen::RowVectorXd fd = (dp.values.row(ip[e]) - dm.values.row(im[e])) / (2 * kH);
        errs = errs.cwiseMax((fd - ans[a][b].row(e)).cwiseAbs().transpose());
        scales = scales.cwiseMax(ans[a][b].row(e).cwiseAbs().transpose());
        errsc = std::max(errsc, std::abs((dp.cutoff[ip[e]] - dm.cutoff[im[e]]) / (2 * kH) - ansc[a][b][e]));
        scalesc = std::max(scalesc, std::abs(ansc[a][b][e]));
      }
    }
  DescriptorFd out;
  out.n_env = ne;
  // components that never vary (e.g. SOAP's trailing σ0 element) have zero scale: absolute error
  out.values.resize(dim);
  out.strain.resize(dim);
  for (int k = 0; k < dim; ++k) {
    out.values[k] = scale[k] > 0 ? err[k] / scale[k] : err[k];
    out.strain[k] = scales[k] > 0 ? errs[k] / scales[k] : errs[k];
  }
  if (check_cutoff) {
    REQUIRE(scalec > 0);  // some pair is inside the transition region: the cutoff gradient is tested
    REQUIRE(scalesc > 0);
    out.cutoff = errc / scalec;
    out.cutoff_strain = errsc / scalesc;
  } else {
    out.cutoff = errc;  // constant cutoff (SOAP): gradients must vanish
    out.cutoff_strain = errsc;
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// model level

// A descriptor term with sparse points taken from the environments of `ref` (evenly spaced),
// their own covariance cutoffs as sparse cutoffs, and random weights.
Coordinate coordinate(const std::string& spec, Kernel kernel, const Structure& ref, int n_sparse, unsigned seed) {
  Coordinate co;
  co.descriptor = make_descriptor(spec);
  co.descriptor_string = co.descriptor->to_string();
  const DescriptorData d = compute(*co.descriptor, ref, false);
  REQUIRE(d.size() >= n_sparse);
  co.sparse.resize(n_sparse, d.dim);
  co.sparse_cutoff.resize(n_sparse);
  for (int k = 0; k < n_sparse; ++k) {
    const int e = static_cast<int>((static_cast<long>(k) * d.size()) / n_sparse);
    co.sparse.row(k) = d.values.row(e);
    co.sparse_cutoff[k] = d.cutoff[e];
  }
  if (kernel.type == Kernel::Type::Gaussian && kernel.theta.size() == 0)
    kernel.theta = Eigen::VectorXd::Constant(d.dim, 1.0);
  co.kernel = kernel;
  std::mt19937 rng(seed);
  std::normal_distribution<double> g;
  co.alpha.resize(n_sparse);
  for (int k = 0; k < n_sparse; ++k) co.alpha[k] = g(rng);
  return co;
}

Kernel dot_kernel(double delta, double zeta, double f0) {
  Kernel k;
  k.type = Kernel::Type::DotProduct;
  k.delta = delta;
  k.zeta = zeta;
  k.f0 = f0;
  return k;
}

Kernel gauss_kernel(double delta, Eigen::VectorXd theta, double f0) {
  Kernel k;
  k.type = Kernel::Type::Gaussian;
  k.delta = delta;
  k.theta = std::move(theta);
  k.f0 = f0;
  return k;
}

struct ModelFd {
  double force = 0.0, force_scale = 0.0, virial = 0.0, virial_scale = 0.0, asym = 0.0, energy_sum = 0.0;
  std::string report() const {
    std::ostringstream o;
    o << "force FD rel error " << force << " (max |F| " << force_scale << "), virial FD rel error " << virial
      << " (max |W| " << virial_scale << "), |W - Wᵀ|/max|W| " << asym << ", |Σε_i - E|/|E| " << energy_sum;
    return o.str();
  }
};

// Forces vs -dE/dr for `atoms` (all components); virial vs -dE/dε (F = I + ε on cell and positions):
// -dE/dε_ab = -Σ_i dE/dr_{i,a} r_{i,b} = W(b, a) for W = -Σ r ⊗ dE/dr.
ModelFd model_fd(const Potential& p, const Structure& s, const std::vector<int>& atoms) {
  const Prediction r = p.predict(s);
  auto energy = [&](const Structure& t) { return p.predict(t, PredictOptions{false}).energy; };
  ModelFd out;
  out.energy_sum = std::abs(r.energies.sum() - r.energy) / std::abs(r.energy);
  out.force_scale = r.forces.cwiseAbs().maxCoeff();
  double ferr = 0.0;
  for (int a : atoms)
    for (int c = 0; c < 3; ++c) {
      Structure sp = s, sm = s;
      sp.positions(a, c) += kH;
      sm.positions(a, c) -= kH;
      const double fd = -(energy(sp) - energy(sm)) / (2 * kH);
      ferr = std::max(ferr, std::abs(fd - r.forces(a, c)));
    }
  out.force = out.force_scale > 0 ? ferr / out.force_scale : ferr;
  out.virial_scale = r.virial.cwiseAbs().maxCoeff();
  double werr = 0.0;
  for (int a = 0; a < 3; ++a)
    for (int b = 0; b < 3; ++b) {
      Eigen::Matrix3d eps = Eigen::Matrix3d::Zero();
      eps(a, b) = kH;
      const double fd = -(energy(test::strained(s, eps)) - energy(test::strained(s, -eps))) / (2 * kH);
      werr = std::max(werr, std::abs(fd - r.virial(b, a)));
    }
  out.virial = werr / out.virial_scale;
  out.asym = (r.virial - r.virial.transpose()).cwiseAbs().maxCoeff() / out.virial_scale;
  return out;
}

Potential potential(std::vector<Coordinate> coords, std::map<int, double> e0) {
  Potential p;
  p.coordinates = std::move(coords);
  p.e0 = std::move(e0);
  return p;
}

// fcc primitive cell (one atom), or two of them stacked along a1 with the second atom displaced.
Structure primitive_fcc(double a, bool two_atoms) {
  Structure s;
  s.cell << 0, a / 2, a / 2, a / 2, 0, a / 2, a / 2, a / 2, 0;
  s.pbc = {true, true, true};
  if (!two_atoms) {
    s.positions = Positions::Zero(1, 3);
    s.numbers = {29};
    return s;
  }
  s.cell.row(0) *= 2;
  s.positions.resize(2, 3);
  s.positions.row(0) << 0.05, -0.03, 0.02;
  s.positions.row(1) = Eigen::RowVector3d(0, a / 2, a / 2) + Eigen::RowVector3d(0.11, -0.07, 0.13);
  s.numbers = {29, 29};
  return s;
}

Structure triclinic(Structure s) {
  s.cell(0, 1) += 0.45;
  s.cell(0, 2) -= 0.3;
  s.cell(1, 2) += 0.35;
  s.cell(2, 0) -= 0.2;
  return s;
}

}  // namespace

// ---------------------------------------------------------------------------------------------

TEST_CASE("derivatives: kernel gradient_rows and weighted_gradient equal FD of Kernel::matrix") {
  std::mt19937 rng(42);
  const int n = 4, M = 6, d = 7;
  // positive entries keep x·s > 0, so non-integer zeta is defined
  RowMatrixXd X = random_matrix(n, d, rng, 0.05, 1.0), S = random_matrix(M, d, rng, 0.05, 1.0);
  for (int i = 0; i < n; ++i) X.row(i).normalize();
  for (int i = 0; i < M; ++i) S.row(i).normalize();
  const Eigen::VectorXd ones = Eigen::VectorXd::Ones(M);
  const Eigen::VectorXd c = random_matrix(M, 1, rng, 0.2, 1.0);  // non-unit sparse cutoffs
  struct Case {
    std::string name;
    Kernel k;
    const Eigen::VectorXd* c;
  };
  const Eigen::VectorXd theta = random_matrix(d, 1, rng, 0.3, 1.5);
  const std::vector<Case> cases = {
      {"dot zeta=1 f0=0 c=1", dot_kernel(1.0, 1.0, 0.0), &ones},
      {"dot zeta=1 f0=0.3 c<1", dot_kernel(0.7, 1.0, 0.3), &c},
      {"dot zeta=2 f0=0.3 c<1", dot_kernel(0.7, 2.0, 0.3), &c},
      {"dot zeta=4 f0=0 c=1", dot_kernel(0.5, 4.0, 0.0), &ones},
      {"dot zeta=4 f0=0.5 c<1", dot_kernel(0.5, 4.0, 0.5), &c},
      {"dot zeta=2.5 f0=0.2 c<1", dot_kernel(1.3, 2.5, 0.2), &c},
      {"gaussian f0=0 c=1", gauss_kernel(0.8, theta, 0.0), &ones},
      {"gaussian f0=0.4 c<1", gauss_kernel(0.8, theta, 0.4), &c},
  };
  for (const auto& cs : cases) {
    // gaussian: unnormalised inputs spread over the length scales
    const RowMatrixXd Xc = cs.k.type == Kernel::Type::Gaussian ? RowMatrixXd(X * 1.5) : X;
    const KernelFd r = kernel_fd(cs.k, Xc, S, *cs.c, rng);
    CAPTURE(cs.name);
    CHECK_MESSAGE(r.weighted < 1e-8, cs.name << ": weighted_gradient FD rel error " << r.weighted);
    CHECK_MESSAGE(r.rows < 1e-8, cs.name << ": gradient_rows FD rel error " << r.rows);
    CHECK_MESSAGE(r.consistency < 1e-13, cs.name << ": gradient_rows·w vs weighted_gradient " << r.consistency);
    MESSAGE(cs.name << ": weighted " << r.weighted << ", rows " << r.rows << ", consistency " << r.consistency);
  }
}

TEST_CASE("derivatives: distance_2b and angle_3b gradients per component, cutoff and strain (triclinic)") {
  const Structure s = triclinic(test::fcc(3.6, 1, 0.2, 31));
  const auto d2 = make_descriptor("distance_2b cutoff=4.0 cutoff_transition_width=1.5");
  const DescriptorFd r2 = descriptor_fd(*d2, s, true);
  // exact low-order functions: FD truncation (~h²) and round-off are ~1e-10 here (measured ≤ 1.2e-9)
  CHECK_MESSAGE(r2.worst() < 1e-8, "distance_2b: " << r2.report());
  MESSAGE("distance_2b: " << r2.report());
  const auto d3 = make_descriptor("angle_3b cutoff=3.2 cutoff_transition_width=1.0");
  const DescriptorFd r3 = descriptor_fd(*d3, s, true);
  REQUIRE(r3.values.size() == 3);
  CHECK_MESSAGE(r3.worst() < 1e-8, "angle_3b: " << r3.report());
  MESSAGE("angle_3b: " << r3.report());
}

TEST_CASE("derivatives: SOAP gradients in a triclinic cell (positions and strain, one and two species)") {
  const Structure s = triclinic(test::fcc(3.6, 1, 0.15, 32));
  const auto d1 = make_descriptor("soap cutoff=4.5 l_max=3 n_max=4 atom_sigma=0.5 cutoff_transition_width=1.0");
  const DescriptorFd r1 = descriptor_fd(*d1, s, false);
  // central-difference truncation dominates (the error scales as h²: strain 5.9e-9, 6.4e-8,
  // 5.8e-7 for h = 3e-6, 1e-5, 3e-5), so 1e-6 at h = 1e-5
  CHECK_MESSAGE(r1.values.maxCoeff() < 1e-6, "soap: " << r1.report());
  CHECK_MESSAGE(r1.strain.maxCoeff() < 1e-6, "soap: " << r1.report());
  CHECK(r1.cutoff == 0.0);
  CHECK(r1.cutoff_strain == 0.0);
  MESSAGE("soap one species: worst " << r1.values.maxCoeff() << " (positions), " << r1.strain.maxCoeff() << " (strain)");
  Structure ab = s;
  ab.numbers = {29, 79, 79, 29};
  const auto d2 = make_descriptor(
      "soap cutoff=4.5 l_max=3 n_max=3 atom_sigma=0.5 cutoff_transition_width=1.0 n_species=2 species_Z={29 79}");
  const DescriptorFd r2 = descriptor_fd(*d2, ab, false);
  CHECK_MESSAGE(r2.values.maxCoeff() < 1e-6, "soap two species: " << r2.report());
  CHECK_MESSAGE(r2.strain.maxCoeff() < 1e-6, "soap two species: " << r2.report());
  MESSAGE("soap two species: worst " << r2.values.maxCoeff() << " (positions), " << r2.strain.maxCoeff() << " (strain)");
}

TEST_CASE("derivatives: behler, steinhardt, angular_dnl and bispectrum gradients (triclinic cell smaller than the cutoff, two species)") {
  Structure s = triclinic(test::fcc(3.6, 1, 0.2, 36));
  s.numbers = {29, 79, 29, 79};
  for (const char* spec :
       {"behler cutoff=4.6 species_Z={29 79} g5_eta={0.03 0.1} g5_zeta={1 3.5} g5_lambda={1 -1} normalise=T",
        "behler cutoff=4.6 cutoff_transition_width=1.2 g2_eta={0 0.8} g2_rs={0 2.5} g4_eta=0.05 g4_zeta={1 2} g4_lambda={-1 1}",
        "steinhardt cutoff=4.6 cutoff_transition_width=1.5 l_max=8 species_Z={29 79}",
        "steinhardt cutoff=4.6 cutoff_transition_width=1.5 l_max=6 Z=79",
        "angular_dnl cutoff=4.6 cutoff_transition_width=1.0 n_max=4 l_max=5 atom_sigma=0.5 species_Z={29 79}",
        "bispectrum cutoff=4.6 cutoff_transition_width=1.0 n_max=2 l_max=3 atom_sigma=0.5 species_Z={29 79}",
        "bispectrum cutoff=4.6 cutoff_transition_width=1.0 n_max=3 l_max=4 atom_sigma=0.6 diagonal_radial=T normalise=F"}) {
    const auto d = make_descriptor(spec);
    const DescriptorFd r = descriptor_fd(*d, s, false);
    // smooth functions: central-difference truncation (h²) and round-off, measured ≤ 1e-7
    CHECK_MESSAGE(r.values.maxCoeff() < 1e-6, spec << ": " << r.report());
    CHECK_MESSAGE(r.strain.maxCoeff() < 1e-6, spec << ": " << r.report());
    MESSAGE(d->kind() << ": worst " << r.values.maxCoeff() << " (positions), " << r.strain.maxCoeff() << " (strain)");
  }
}

TEST_CASE("derivatives: a behler model's forces and virial equal FD of the energy") {
  Structure s = test::fcc(3.6, 2, 0.15, 37);
  s.cell(0, 1) = 0.3;
  const Structure ref = test::fcc(3.55, 1, 0.2, 38);
  const auto d = make_descriptor("behler cutoff=4.0");
  const Potential p = potential(
      {coordinate("behler cutoff=4.0", gauss_kernel(0.4, Eigen::VectorXd::Constant(d->dimension(), 2.0), 0.0), ref, 4, 5)},
      {{29, -0.2}});
  const ModelFd r = model_fd(p, s, {0, 9, 30});
  CHECK_MESSAGE(r.force < 1e-6, "behler: " << r.report());
  CHECK_MESSAGE(r.virial < 1e-6, "behler: " << r.report());
  CHECK_MESSAGE(r.asym < 1e-10, "behler: " << r.report());
  MESSAGE("behler model: " << r.report());
}

TEST_CASE("derivatives: angle_3b model forces and virial equal FD of the energy") {
  Structure s = test::fcc(3.6, 2, 0.15, 33);
  s.cell(0, 1) = 0.3;
  const Structure ref = test::fcc(3.55, 1, 0.2, 34);
  Eigen::VectorXd theta(3);
  theta << 0.8, 0.3, 0.9;
  const std::string spec = "angle_3b cutoff=3.0 cutoff_transition_width=0.8";
  const Potential p = potential({coordinate(spec, gauss_kernel(0.4, theta, 0.1), ref, 24, 1)}, {{29, -0.2}});
  REQUIRE(p.coordinates[0].sparse_cutoff.minCoeff() < 0.99);  // non-unit sparse cutoffs are exercised
  const ModelFd r = model_fd(p, s, {0, 7, 21});
  CHECK_MESSAGE(r.force < 1e-6, "angle_3b: " << r.report());
  CHECK_MESSAGE(r.virial < 1e-6, "angle_3b: " << r.report());
  CHECK_MESSAGE(r.asym < 1e-10, "angle_3b: " << r.report());
  CHECK(r.energy_sum < 1e-12);
  MESSAGE("angle_3b model: " << r.report());
}

TEST_CASE("derivatives: virial of cells smaller than the cutoff (soap, distance_2b)") {
  const Structure ref = test::fcc(3.6, 1, 0.2, 35);
  const std::string soap = "soap cutoff=5.0 l_max=3 n_max=4 atom_sigma=0.5 cutoff_transition_width=1.0";
  const std::string pair = "distance_2b cutoff=5.0 cutoff_transition_width=1.0";
  Eigen::VectorXd th(1);
  th << 0.7;
  const Potential psoap = potential({coordinate(soap, dot_kernel(0.3, 4.0, 0.1), ref, 4, 2)}, {{29, 0.0}});
  const Potential ppair = potential({coordinate(pair, gauss_kernel(0.3, th, 0.05), ref, 12, 3)}, {{29, 0.0}});
  Eigen::Matrix3d shear = Eigen::Matrix3d::Zero();
  shear(0, 1) = 0.04;
  shear(2, 0) = -0.03;
  shear(1, 1) = 0.02;
  const Structure one = test::strained(primitive_fcc(3.6, false), shear);  // 1 atom, heights < 2.1 Å
  const Structure two = primitive_fcc(3.6, true);
  for (const auto* pp : {&psoap, &ppair}) {
    const std::string name = pp == &psoap ? "soap" : "distance_2b";
    const ModelFd r1 = model_fd(*pp, one, {0});
    // a one-atom Bravais cell: every atom is an inversion centre, the force vanishes
    CHECK_MESSAGE(r1.force_scale < 1e-10 * r1.virial_scale, name << " 1 atom: " << r1.report());
    CHECK_MESSAGE(r1.virial < 1e-6, name << " 1 atom: " << r1.report());
    CHECK_MESSAGE(r1.asym < 1e-10, name << " 1 atom: " << r1.report());
    const ModelFd r2 = model_fd(*pp, two, {0, 1});
    CHECK_MESSAGE(r2.force < 1e-6, name << " 2 atoms: " << r2.report());
    CHECK_MESSAGE(r2.virial < 1e-6, name << " 2 atoms: " << r2.report());
    CHECK_MESSAGE(r2.asym < 1e-10, name << " 2 atoms: " << r2.report());
    MESSAGE(name << " 1 atom: " << r1.report());
    MESSAGE(name << " 2 atoms: " << r2.report());
  }
}

TEST_CASE("derivatives: two-species model (soap per species + distance_2b per pair) forces and virial") {
  Structure s = triclinic(test::fcc(3.8, 1, 0.15, 36));
  s.numbers = {29, 79, 29, 79};
  Structure ref = test::fcc(3.75, 1, 0.2, 37);
  ref.numbers = {79, 29, 29, 79};
  Structure big = test::fcc(3.75, 2, 0.2, 38);  // enough pairs of every kind for the 2b sparse points
  for (int i = 0; i < big.size(); ++i) big.numbers[i] = i % 3 == 0 ? 79 : 29;
  std::vector<Coordinate> coords;
  const std::vector<int> species = {29, 79};
  unsigned seed = 10;
  for (const auto& spec :
       expand_species(Options::parse("soap cutoff=4.0 l_max=3 n_max=3 atom_sigma=0.5 cutoff_transition_width=1.0"), species))
    coords.push_back(coordinate(spec, dot_kernel(0.4, 2.0, 0.1), ref, 2, seed++));
  Eigen::VectorXd th(1);
  th << 0.6;
  const auto pairs = expand_species(Options::parse("distance_2b cutoff=4.5 cutoff_transition_width=1.0"), species);
  REQUIRE(pairs.size() == 3);
  for (const auto& spec : pairs) coords.push_back(coordinate(spec, gauss_kernel(0.2, th, 0.0), big, 8, seed++));
  const Potential p = potential(std::move(coords), {{29, -0.1}, {79, -0.3}});
  const ModelFd r = model_fd(p, s, {0, 1, 2, 3});
  CHECK_MESSAGE(r.force < 1e-6, "Cu/Au: " << r.report());
  CHECK_MESSAGE(r.virial < 1e-6, "Cu/Au: " << r.report());
  CHECK_MESSAGE(r.asym < 1e-10, "Cu/Au: " << r.report());
  CHECK(r.energy_sum < 1e-12);
  MESSAGE("Cu/Au model: " << r.report());
  // every term contributes: dropping one changes the forces
  for (size_t drop = 0; drop < p.coordinates.size(); ++drop) {
    Potential q = p;
    q.coordinates.erase(q.coordinates.begin() + static_cast<long>(drop));
    CHECK((q.predict(s).forces - p.predict(s).forces).cwiseAbs().maxCoeff() > 1e-6);
  }
}
