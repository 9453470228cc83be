#include <doctest/doctest.h>

#include <cmath>
#include <numbers>

#include "helpers.hpp"
#include "soapgap/bessel.hpp"
#include "soapgap/fit.hpp"
#include "soapgap/error.hpp"
#include "soapgap/soap.hpp"
#include "soapgap/spherical_harmonics.hpp"

using namespace soapgap;

namespace {

RowMatrixXd values(const Descriptor& d, const Structure& s) {
  return d.compute(s, build_neighbour_list(s, d.cutoff()), false).values;
}

// Sum of gradient entries of environment e with respect to atom a (a d x 3 block).
Eigen::MatrixXd grad_block(const DescriptorData& d, int e, int a) {
  Eigen::MatrixXd g = Eigen::MatrixXd::Zero(d.dim, 3);
  for (int k = d.grad_offset[e]; k < d.grad_offset[e + 1]; ++k)
    if (d.grad_atom[k] == a)
      for (int c = 0; c < 3; ++c) g.col(c) += d.grad_values.row(3 * k + c).transpose();
  return g;
}

// max |analytic - central difference| / max |analytic| over all environments, a few atoms
double fd_relative_error(const Descriptor& desc, const Structure& s, const std::vector<int>& atoms, double h = 1e-5) {
  const DescriptorData d = desc.compute(s, build_neighbour_list(s, desc.cutoff()), true);
  double err = 0.0, scale = 0.0;
  for (int a : atoms)
    for (int c = 0; c < 3; ++c) {
      Structure p = s, m = s;
      p.positions(a, c) += h;
      m.positions(a, c) -= h;
      const RowMatrixXd fd = (values(desc, p) - values(desc, m)) / (2 * h);
      for (int e = 0; e < d.size(); ++e) {
        const Eigen::VectorXd an = grad_block(d, e, a).col(c);
        err = std::max(err, (an - fd.row(e).transpose()).cwiseAbs().maxCoeff());
        scale = std::max(scale, an.cwiseAbs().maxCoeff());
      }
    }
  REQUIRE(scale > 0);
  return err / scale;
}

}  // namespace

TEST_CASE("real spherical harmonics: addition theorem and finite-difference gradients") {
  const int L = 8;
  SphericalHarmonics sh(L);
  const double a[3] = {0.3, -0.7, 0.5}, b[3] = {-0.2, 0.4, 0.9};
  std::vector<double> Ya(sh.size()), Yb(sh.size()), dY(3 * sh.size());
  sh.compute(a, Ya.data(), dY.data());
  sh.compute(b, Yb.data(), nullptr);
  const double cosg = (a[0] * b[0] + a[1] * b[1] + a[2] * b[2]) /
                      std::sqrt((a[0] * a[0] + a[1] * a[1] + a[2] * a[2]) * (b[0] * b[0] + b[1] * b[1] + b[2] * b[2]));
  double p0 = 1.0, p1 = cosg;  // Legendre recursion
  for (int l = 0; l <= L; ++l) {
    const double Pl = l == 0 ? 1.0 : p1;
    double sum = 0.0;
    for (int m = -l; m <= l; ++m) sum += Ya[l * l + l + m] * Yb[l * l + l + m];
    CHECK(sum == doctest::Approx((2 * l + 1) / (4 * std::numbers::pi) * Pl).epsilon(1e-12));
    if (l >= 1) {
      const double p2 = ((2 * l + 1) * cosg * p1 - l * p0) / (l + 1);
      p0 = p1;
      p1 = p2;
    }
  }
  const double h = 1e-6;
  std::vector<double> Yp(sh.size()), Ym(sh.size());
  for (int c = 0; c < 3; ++c) {
    double ap[3] = {a[0], a[1], a[2]}, am[3] = {a[0], a[1], a[2]};
    ap[c] += h;
    am[c] -= h;
    sh.compute(ap, Yp.data(), nullptr);
    sh.compute(am, Ym.data(), nullptr);
    for (int lm = 0; lm < sh.size(); ++lm) CHECK(dY[3 * lm + c] == doctest::Approx((Yp[lm] - Ym[lm]) / (2 * h)).epsilon(1e-7));
  }
}

TEST_CASE("SOAP dimension and layout follow QUIP") {
  const auto d = make_descriptor("soap cutoff=3 l_max=4 n_max=4 atom_sigma=0.5");
  CHECK(d->dimension() == 51);
  const auto d2 = make_descriptor("soap cutoff=3 l_max=4 n_max=4 atom_sigma=0.5 n_species=2 species_Z={1 6}");
  CHECK(d2->dimension() == 181);
  // unit norm, trailing covariance_sigma0 element
  const Structure s = test::fcc(3.6, 1, 0.05, 4);
  const RowMatrixXd v = values(*d, s);
  for (int e = 0; e < v.rows(); ++e) {
    CHECK(v.row(e).norm() == doctest::Approx(1.0).epsilon(1e-12));
    CHECK(v(e, 50) == 0.0);
  }
}

TEST_CASE("SOAP is invariant under rotation, translation, permutation and supercell choice") {
  const auto d = make_descriptor("soap cutoff=4.5 l_max=6 n_max=6 atom_sigma=0.5 cutoff_transition_width=1.0");
  Structure s = test::fcc(3.6, 2, 0.1, 7);
  const RowMatrixXd v0 = values(*d, s);

  Structure rot = s;
  const Eigen::Matrix3d R = test::rotation(11);
  rot.positions = s.positions * R.transpose();
  rot.cell = s.cell * R.transpose();
  CHECK((values(*d, rot) - v0).cwiseAbs().maxCoeff() < 1e-12);

  Structure tr = s;
  tr.positions.rowwise() += Eigen::RowVector3d(0.37, -1.1, 2.9);
  CHECK((values(*d, tr) - v0).cwiseAbs().maxCoeff() < 1e-12);

  Structure perm = s;
  const int n = s.size();
  for (int i = 0; i < n; ++i) perm.positions.row(i) = s.positions.row(n - 1 - i);
  const RowMatrixXd vp = values(*d, perm);
  double dperm = 0.0;
  for (int i = 0; i < n; ++i) dperm = std::max(dperm, (vp.row(i) - v0.row(n - 1 - i)).cwiseAbs().maxCoeff());
  CHECK(dperm < 1e-12);

  // the same crystal described by a 2x1x1 supercell gives the same environments
  const RowMatrixXd vb = values(*d, test::doubled_along_a(s));
  CHECK((vb.topRows(n) - v0).cwiseAbs().maxCoeff() < 1e-12);
  CHECK((vb.bottomRows(n) - v0).cwiseAbs().maxCoeff() < 1e-12);

  // wrapping atoms into another periodic image changes nothing
  Structure wrapped = s;
  wrapped.positions.row(3) += s.cell.row(1) - 2 * s.cell.row(2);
  CHECK((values(*d, wrapped) - v0).cwiseAbs().maxCoeff() < 1e-12);
}

TEST_CASE("SOAP gradients match finite differences (one and two species, small cell, central weight)") {
  const auto d1 = make_descriptor("soap cutoff=4.0 l_max=5 n_max=5 atom_sigma=0.45 cutoff_transition_width=0.8");
  const double e1 = fd_relative_error(*d1, test::fcc(3.6, 1, 0.15, 5), {0, 2});
  MESSAGE("SOAP gradient FD relative error (one species): " << e1);
  CHECK(e1 < 1e-6);
  Structure ab = test::fcc(3.6, 1, 0.15, 6);
  ab.numbers = {29, 13, 29, 13};
  const auto d2 = make_descriptor(
      "soap cutoff=5.0 l_max=4 n_max=4 atom_sigma=0.5 n_species=2 species_Z={13 29} Z={13} central_weight=0.6");
  const double e2 = fd_relative_error(*d2, ab, {0, 1, 3});
  MESSAGE("SOAP gradient FD relative error (two species): " << e2);
  CHECK(e2 < 1e-6);
  const auto d3 = make_descriptor("soap cutoff=3.0 l_max=3 n_max=3 atom_sigma=0.4 normalise=F");
  CHECK(fd_relative_error(*d3, test::fcc(3.6, 1, 0.15, 8), {1}) < 1e-6);
}

TEST_CASE("impossible SOAP hyperparameters are clear errors") {
  auto err = [](const std::string& s) {
    try {
      make_descriptor(s);
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string();
  };
  CHECK(err("soap cutoff=0 l_max=4 n_max=4 atom_sigma=0.5").find("cutoff must be positive") != std::string::npos);
  CHECK(err("soap cutoff=-3 l_max=4 n_max=4 atom_sigma=0.5").find("cutoff must be positive") != std::string::npos);
  CHECK(err("soap cutoff=3 l_max=4 n_max=0 atom_sigma=0.5").find("n_max must be at least 1") != std::string::npos);
  CHECK(err("soap cutoff=3 l_max=-1 n_max=4 atom_sigma=0.5").find("l_max") != std::string::npos);
  CHECK(err("soap cutoff=3 l_max=4 n_max=4 atom_sigma=0").find("atom_sigma") != std::string::npos);
  CHECK(err("soap cutoff=3 l_max=4 n_max=4").find("missing required parameter 'atom_sigma'") != std::string::npos);
  CHECK(err("soap cutoff=3 l_max=4 n_max=x atom_sigma=0.5").find("'n_max' must be a number") != std::string::npos);
  CHECK(err("soap cutoff=3 l_max=4 n_max=4 atom_sigma=inf").find("must be a number") != std::string::npos);
  CHECK(err("soap cutoff=3 l_max=4 n_max=4 atom_sigma=0.5 central_weight=nan").find("must be a number") != std::string::npos);
  CHECK(err("bispectrum_so4 cutoff=3").find("unknown or unsupported descriptor") != std::string::npos);
  // integers are integers, in range: never a silent cast
  CHECK(err("soap cutoff=3 l_max=4.5 n_max=4 atom_sigma=0.5").find("'l_max' must be an integer") != std::string::npos);
  CHECK(err("soap cutoff=3 l_max=1e20 n_max=4 atom_sigma=0.5").find("'l_max' must be an integer") != std::string::npos);
  CHECK(err("soap cutoff=3 l_max=1e9 n_max=4 atom_sigma=0.5").find("above 50") != std::string::npos);
  CHECK(err("soap cutoff=3 l_max=100 n_max=4 atom_sigma=0.5").find("above 50") != std::string::npos);
  CHECK(err("soap cutoff=3 l_max=4 n_max=1000 atom_sigma=0.5").find("n_max=1000 is above 64") != std::string::npos);
  CHECK(err("soap cutoff=3 l_max=4 n_max=4 atom_sigma=0.5 Z=6.7").find("'Z' must be a list of integers") != std::string::npos);
  CHECK(err("soap cutoff=3 l_max=4 n_max=4 atom_sigma=0.5 species_Z={6 300}").find("300") != std::string::npos);
  CHECK(err("distance_2b cutoff=3 Z1=6.5").find("'Z1' must be an integer") != std::string::npos);
  CHECK(err("angle_3b cutoff=3 Z=-2").find("not in 0..118") != std::string::npos);
  CHECK(err("soap cutoff=3 l_max=50 n_max=2 atom_sigma=0.5").empty());
}

TEST_CASE("unknown keys in descriptor and gap term strings are errors that list the valid keys") {
  auto err = [](const std::string& s) {
    try {
      check_gap_term_keys(Options::parse(s, "gap term 1"));
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string();
  };
  const std::string e = err("soap cutoff=3 l_max=4 n_max=4 atom_sigma=0.5 delta=0.2 zta=4");
  CHECK_MESSAGE(e.find("gap term 1: unknown key 'zta' for soap") != std::string::npos, e);
  CHECK(e.find("zeta") != std::string::npos);  // the list of valid keys
  CHECK(err("soap cutoff=3 sparse_methd=cur_points").find("unknown key 'sparse_methd'") != std::string::npos);
  CHECK(err("distance_2b cutoff=3 l_max=4").find("unknown key 'l_max' for distance_2b") != std::string::npos);
  CHECK(err("angle_3b cutoff=3 n_sparse=10 config_type_n_sparse={a:1}").find("not supported") != std::string::npos);
  CHECK(err("bispectrum_so4 cutoff=3").find("gap term 1: unknown or unsupported descriptor") != std::string::npos);
  CHECK(err("soap cutoff=3 l_max=4 n_max=4 atom_sigma=0.5 delta=0.2 zeta=4 n_sparse=10 sparse_method=cur_points "
            "covariance_type=dot_product add_species=T print_sparse_index=x.idx").empty());
  CHECK(err("distance_2b cutoff=3 Z1=1 Z2=6 delta=1 theta_uniform=1 n_sparse=5 sparse_method=uniform").empty());
}

TEST_CASE("radial integrals stay accurate at high l (upward recursion alone does not)") {
  // i_l(x) by its positive series in long double, independent of the three regimes of ScaledBesselI
  auto reference = [](double alpha, double r, double ra, int l) {
    const long double x = 2.0L * alpha * r * ra, h = x * x / 2;
    long double lead = 1, sum = 1, t = 1;
    for (int j = 1; j <= l; ++j) lead *= x / (2 * j + 1);
    for (int k = 1; k < 20000 && t > 1e-22L * sum; ++k) sum += (t *= h / (k * (2.0L * l + 2 * k + 1)));
    return static_cast<double>(std::exp(-alpha * (static_cast<long double>(r) * r + static_cast<long double>(ra) * ra)) * lead * sum);
  };
  double worst = 0;
  for (int count : {3, 8, 18, 30, 52}) {
    const ScaledBesselI b(count);
    std::vector<double> g(count);
    for (double alpha : {0.5, 2.0, 8.0})
      for (double r : {0.05, 0.8, 2.5, 4.9})
        for (double ra : {0.0, 0.3, 1.9, 3.7, 6.1}) {
          b.compute(alpha, r, ra, g.data());
          for (int l = 0; l < count; ++l) {
            const double ref = reference(alpha, r, ra, l);
            if (std::abs(ref) > 1e-280) worst = std::max(worst, std::abs(g[l] - ref) / std::abs(ref));
          }
        }
  }
  CHECK_MESSAGE(worst < 1e-11, "worst relative error of g_l vs a long-double series: " << worst);
}
