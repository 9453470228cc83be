// The representation family beside SOAP (behler, steinhardt, angular_dnl, bispectrum): invariances of every
// member, Steinhardt's invariants of perfect crystals and the icosahedron against their published
// values, the Wigner 3j symbols against closed forms and orthogonality, and the parameter errors.
// Finite-difference checks of their gradients are in test_derivatives.cpp; the agreement with
// DScribe's ACSF is in tests/python/test_descriptor_family.py.
#include <doctest/doctest.h>

#include <cmath>
#include <numbers>

#include "helpers.hpp"
#include "soapgap/descriptor.hpp"
#include "soapgap/error.hpp"
#include "soapgap/wigner.hpp"

using namespace soapgap;

namespace {

RowMatrixXd values(const Descriptor& d, const Structure& s) {
  return d.compute(s, build_neighbour_list(s, d.cutoff()), false).values;
}

double max_diff(const RowMatrixXd& a, const RowMatrixXd& b) {
  REQUIRE(a.rows() == b.rows());
  REQUIRE(a.cols() == b.cols());
  return (a - b).cwiseAbs().maxCoeff();
}

const char* const kFamily[] = {
    "behler cutoff=4.5 species_Z={29 79} g5_eta=0.05 g5_zeta=2 g5_lambda=-1",
    "steinhardt cutoff=4.5 cutoff_transition_width=1.0 l_max=10",
    "angular_dnl cutoff=4.5 cutoff_transition_width=1.0 n_max=5 l_max=6 species_Z={29 79}",
    "bispectrum cutoff=4.5 cutoff_transition_width=1.0 n_max=2 l_max=4 species_Z={29 79}",
};

Structure lattice(const Eigen::Matrix3d& cell, const std::vector<Eigen::Vector3d>& fractional) {
  Structure s;
  s.cell = cell;
  s.pbc = {true, true, true};
  s.positions.resize(static_cast<int>(fractional.size()), 3);
  for (size_t k = 0; k < fractional.size(); ++k) {
    s.positions.row(static_cast<int>(k)) = fractional[k].transpose() * cell;
    s.numbers.push_back(29);
  }
  return s;
}

}  // namespace

TEST_CASE("behler, steinhardt, angular_dnl, bispectrum: invariant under rotation, reflection, translation, permutation, supercell") {
  Structure s = test::fcc(3.6, 2, 0.12, 41);
  for (int i = 0; i < s.size(); i += 3) s.numbers[i] = 79;
  for (const char* spec : kFamily) {
    const auto d = make_descriptor(spec);
    const RowMatrixXd v0 = values(*d, s);
    const double scale = v0.cwiseAbs().maxCoeff();
    REQUIRE(scale > 0);
    const double tol = 1e-12 * scale;

    for (const bool reflect : {false, true}) {
      Eigen::Matrix3d R = test::rotation(13);
      if (reflect) R.col(0) *= -1;  // an improper rotation
      Structure rot = s;
      rot.positions = s.positions * R.transpose();
      rot.cell = s.cell * R.transpose();
      CHECK_MESSAGE(max_diff(values(*d, rot), v0) < tol, spec << (reflect ? ": reflection" : ": rotation"));
    }
    Structure tr = s;
    tr.positions.rowwise() += Eigen::RowVector3d(0.37, -1.1, 2.9);
    tr.positions.row(5) += s.cell.row(1) - 2 * s.cell.row(2);  // and one atom in another image
    CHECK_MESSAGE(max_diff(values(*d, tr), v0) < tol, spec << ": translation");

    Structure perm = s;
    const int n = s.size();
    for (int i = 0; i < n; ++i) {
      perm.positions.row(i) = s.positions.row(n - 1 - i);
      perm.numbers[i] = s.numbers[n - 1 - i];
    }
    const RowMatrixXd vp = values(*d, perm);
    double dperm = 0.0;
    for (int i = 0; i < n; ++i) dperm = std::max(dperm, (vp.row(i) - v0.row(n - 1 - i)).cwiseAbs().maxCoeff());
    CHECK_MESSAGE(dperm < tol, spec << ": permutation");

    const RowMatrixXd vb = values(*d, test::doubled_along_a(s));
    CHECK_MESSAGE(max_diff(vb.topRows(n), v0) < tol, spec << ": supercell");
    CHECK_MESSAGE(max_diff(vb.bottomRows(n), v0) < tol, spec << ": supercell");
  }
}

TEST_CASE("steinhardt: Q_l and Ŵ_l of fcc, bcc, hcp and the icosahedron equal the published values") {
  // Published values (Steinhardt, Nelson, Ronchetti, PRB 28, 784 (1983), Table I; Mickel et al.,
  // J. Chem. Phys. 138, 044501 (2013)), 6 digits.
  struct Case {
    const char* name;
    Structure s;
    double cutoff, q4, q6, w4, w6;
  };
  const double a = 3.6, ab = 2.87, ah = 3.2, ch = ah * std::sqrt(8.0 / 3.0);
  Eigen::Matrix3d fcc_cell, hcp_cell;
  fcc_cell << 0, a / 2, a / 2, a / 2, 0, a / 2, a / 2, a / 2, 0;
  hcp_cell << ah, 0, 0, -ah / 2, ah * std::sqrt(3.0) / 2, 0, 0, 0, ch;
  std::vector<Case> cases = {
      {"fcc", lattice(fcc_cell, {{0, 0, 0}}), 3.0, 0.190941, 0.574524, -0.159317, -0.013161},
      {"bcc (8 + 6 neighbours)", lattice(Eigen::Matrix3d::Identity() * ab, {{0, 0, 0}, {0.5, 0.5, 0.5}}), 3.2,
       0.036369, 0.510688, 0.159317, 0.013161},
      {"hcp (ideal c/a)", lattice(hcp_cell, {{1.0 / 3, 2.0 / 3, 0.25}, {2.0 / 3, 1.0 / 3, 0.75}}), 3.5, 0.097222,
       0.484762, 0.134097, -0.012442},
  };
  // the 13-atom icosahedron: centre and the 12 vertices (0, ±1, ±φ) and cyclic permutations
  Structure ico;
  const double phi = (1 + std::sqrt(5.0)) / 2;
  std::vector<Eigen::Vector3d> pts{{0, 0, 0}};
  for (double s1 : {-1.0, 1.0})
    for (double s2 : {-phi, phi}) {
      pts.emplace_back(0, s1, s2);
      pts.emplace_back(s1, s2, 0);
      pts.emplace_back(s2, 0, s1);
    }
  ico.positions.resize(13, 3);
  for (int k = 0; k < 13; ++k) {
    ico.positions.row(k) = pts[k].transpose() * 1.3;
    ico.numbers.push_back(29);
  }
  cases.push_back({"icosahedron", ico, 1.3 * std::sqrt(1 + phi * phi) + 0.6, 0.0, 0.663325, 0.0, -0.169754});
  for (const auto& c : cases) {
    const auto d = make_descriptor("steinhardt cutoff=" + std::to_string(c.cutoff) +
                                   " cutoff_transition_width=0.3 l_max=6");
    const RowMatrixXd v = values(*d, c.s);
    // layout Q_1..Q_6, Ŵ_2, Ŵ_4, Ŵ_6
    CHECK_MESSAGE(std::abs(v(0, 3) - c.q4) < 1e-6, c.name << " Q4 " << v(0, 3));
    CHECK_MESSAGE(std::abs(v(0, 5) - c.q6) < 1e-6, c.name << " Q6 " << v(0, 5));
    CHECK_MESSAGE(std::abs(v(0, 7) - c.w4) < 1e-6, c.name << " W4 " << v(0, 7));
    CHECK_MESSAGE(std::abs(v(0, 8) - c.w6) < 1e-6, c.name << " W6 " << v(0, 8));
  }
}

TEST_CASE("wigner 3j: closed forms, the orthogonality relation, Clebsch-Gordan normalisation") {
  for (int j = 0; j <= 20; ++j)
    for (int m = -j; m <= j; ++m)  // (j j 0; m -m 0) = (-1)^{j-m} / sqrt(2j+1)
      CHECK(std::abs(wigner_3j(j, j, 0, m, -m, 0) - ((j - m) % 2 ? -1.0 : 1.0) / std::sqrt(2.0 * j + 1)) < 1e-14);
  // Σ_{m1,m2} (2 j3 + 1) (j1 j2 j3; m1 m2 m3)(j1 j2 j3'; m1 m2 m3') = δ_{j3 j3'} δ_{m3 m3'}
  double worst = 0.0;
  for (int j1 = 0; j1 <= 12; j1 += 3)
    for (int j2 = 0; j2 <= 12; j2 += 4)
      for (int j3 = std::abs(j1 - j2); j3 <= j1 + j2; ++j3)
        for (int j3p = std::abs(j1 - j2); j3p <= j1 + j2; ++j3p)
          for (int m3 = -std::min(j3, j3p); m3 <= std::min(j3, j3p); m3 += 2) {
            double sum = 0.0;
            for (int m1 = -j1; m1 <= j1; ++m1) {
              const int m2 = -m1 - m3;
              sum += (2 * j3 + 1) * wigner_3j(j1, j2, j3, m1, m2, m3) * wigner_3j(j1, j2, j3p, m1, m2, m3);
            }
            worst = std::max(worst, std::abs(sum - (j3 == j3p ? 1.0 : 0.0)));
          }
  CHECK(worst < 1e-12);
  CHECK(wigner_3j(2, 2, 2, 1, 1, -1) == 0.0);  // m's that do not sum to zero
  // <1 1 1 -1 | 0 0> = 1/sqrt(3), <1 0 1 0 | 2 0> = sqrt(2/3)
  CHECK(std::abs(clebsch_gordan(1, 1, 1, -1, 0, 0) - 1 / std::sqrt(3.0)) < 1e-15);
  CHECK(std::abs(clebsch_gordan(1, 0, 1, 0, 2, 0) - std::sqrt(2.0 / 3.0)) < 1e-15);
}

TEST_CASE("behler, steinhardt, angular_dnl, bispectrum: invalid parameters are clear errors") {
  auto fails = [](const std::string& spec, const std::string& part) {
    try {
      make_descriptor(spec);
    } catch (const Error& e) {
      CHECK_MESSAGE(std::string(e.what()).find(part) != std::string::npos, spec << " -> " << e.what());
      return;
    }
    FAIL("no error for " << spec);
  };
  fails("behler cutoff=5 g2_eta={-0.5}", "g2_eta must be >= 0");
  fails("behler cutoff=5 g4_eta={0.1 0.2} g4_zeta={1 2 4}", "g4_eta");
  fails("behler cutoff=5 g4_zeta=0.5", "must be >= 1");
  fails("behler cutoff=5 g4_lambda=0.5", "must be 1 or -1");
  fails("behler cutoff=-1", "cutoff must be positive");
  fails("behler cutoff=5 species_Z={}", "species_Z");
  fails("behler cutoff=5 species_Z={29 29}", "twice");
  fails("behler cutoff=5 n_species=3 species_Z={29 79}", "n_species=3");
  fails("steinhardt cutoff=5 l_max=40", "l_max must be in 1..20");
  fails("steinhardt cutoff=5 l_max=0", "l_max must be in 1..20");
  fails("angular_dnl cutoff=5 l_max=-1", "l_max must be in 0..");
  fails("angular_dnl cutoff=5 n_max=0", "n_max must be in 1..");
  fails("angular_dnl cutoff=5 atom_sigma=0", "atom_sigma must be positive");
  fails("steinhardt cutoff=5 cutoff_transition_width=6", "cutoff_transition_width");
  fails("bispectrum cutoff=5 l_max=13", "l_max must be in 0..12");
  fails("bispectrum cutoff=5 n_max=65", "n_max must be in 1..64");
  fails("bispectrum cutoff=5 n_max=30 l_max=12 species_Z={1 6 7 8}", "components");
}

TEST_CASE("behler, steinhardt, angular_dnl, bispectrum: to_string() rebuilds the same descriptor") {
  Structure s = test::fcc(3.6, 1, 0.1, 42);
  s.numbers[1] = 79;
  for (const char* spec : kFamily) {
    const auto d = make_descriptor(spec);
    const auto again = make_descriptor(d->to_string());
    CHECK(again->to_string() == d->to_string());
    CHECK(max_diff(values(*again, s), values(*d, s)) == 0.0);
  }
  const auto no_g4 = make_descriptor("behler cutoff=4 g4_zeta={}");
  CHECK(no_g4->dimension() == 8);
  CHECK(make_descriptor(no_g4->to_string())->dimension() == 8);
}
