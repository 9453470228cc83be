#include <doctest/doctest.h>

#include <cmath>
#include <filesystem>
#include <functional>
#include <limits>
#include <nlohmann/json.hpp>
#include <fstream>

#include "helpers.hpp"
#include "soapgap/error.hpp"
#include "soapgap/fit.hpp"
#include "soapgap/model_file.hpp"

using namespace soapgap;

namespace {

// Reference data from a smooth Morse pair potential (cutoff 5 Å with a cosine switch).
void label_morse(Structure& s) {
  const double D = 0.3, a = 1.4, r0 = 2.55, rc = 5.0;
  const NeighbourList nl = build_neighbour_list(s, rc);
  double E = 0.0;
  RowMatrixXd F = RowMatrixXd::Zero(s.size(), 3);
  Eigen::Matrix3d W = Eigen::Matrix3d::Zero();
  for (int i = 0; i < s.size(); ++i)
    for (const Neighbour* nb = nl.begin(i); nb != nl.end(i); ++nb) {
      const double x = std::exp(-a * (nb->r - r0));
      const double v = D * (x * x - 2 * x), dv = D * (-2 * a * x * x + 2 * a * x);
      const double sw = nb->r < rc - 1 ? 1.0 : 0.5 * (std::cos(M_PI * (nb->r - rc + 1)) + 1);
      const double dsw = nb->r < rc - 1 ? 0.0 : -0.5 * M_PI * std::sin(M_PI * (nb->r - rc + 1));
      E += 0.5 * v * sw;
      const Eigen::Vector3d g = 0.5 * (dv * sw + v * dsw) * nb->rij / nb->r;  // dE/dr_j for this half pair
      F.row(nb->j) -= g.transpose();
      F.row(i) += g.transpose();
      W -= nb->rij * g.transpose();
    }
  s.info["energy"] = InfoValue::real({E});
  s.info["virial"] = InfoValue::real(std::vector<double>(W.data(), W.data() + 9));
  AtomArray f;
  f.numbers = F;
  s.arrays["forces"] = f;
}

std::vector<Structure> morse_frames(int n, unsigned seed) {
  std::vector<Structure> out;
  for (int k = 0; k < n; ++k) {
    Structure s = test::fcc(3.6 + 0.02 * (k % 5 - 2), 2, 0.05 + 0.03 * (k % 3), seed + k);
    label_morse(s);
    s.frame = k;
    out.push_back(s);
  }
  return out;
}

FitOptions options() {
  FitOptions o;
  o.gap = split_gap_string(
      "soap cutoff=4.5 l_max=4 n_max=5 atom_sigma=0.5 cutoff_transition_width=1.0 delta=0.5 zeta=4 n_sparse=60 "
      "sparse_method=cur_points : distance_2b cutoff=5.0 delta=1.0 theta_uniform=1.0 n_sparse=15 sparse_method=uniform");
  o.default_sigma = {0.001, 0.02, 0.01};
  o.e0 = {{29, 0.0}};
  o.seed = 3;
  // A little jitter keeps the weights moderate, so finite differences of the energy are not
  // swamped by cancellation in sum_s alpha_s k(x, s) (with 1e-10, |alpha| ~ 1e6-1e7).
  o.sparse_jitter = 1e-5;
  return o;
}

const Potential& model() {
  static const Potential p = fit(morse_frames(12, 100), options());
  return p;
}

}  // namespace

TEST_CASE("fitted model reproduces a smooth reference within its noise") {
  const Potential& p = model();
  CHECK(p.coordinates.size() == 2);
  double se = 0.0;
  long n = 0;
  double emax = 0.0;
  for (const Structure& s : morse_frames(6, 900)) {
    const Prediction r = p.predict(s);
    se += (r.forces - s.array_reals("forces", 3)).squaredNorm();
    n += 3 * s.size();
    emax = std::max(emax, std::abs(r.energy - s.info_reals("energy")[0]) / s.size());
  }
  MESSAGE("held-out force RMSE " << std::sqrt(se / n) << " eV/Å, max energy error " << emax << " eV/atom");
  CHECK(std::sqrt(se / n) < 0.02);
  CHECK(emax < 0.003);
}

TEST_CASE("forces and virial are exact derivatives of the energy") {
  const Potential& p = model();
  Structure s = test::fcc(3.62, 2, 0.12, 77);
  s.cell(0, 1) = 0.3;  // triclinic
  const Prediction r = p.predict(s);
  CHECK(r.energies.sum() == doctest::Approx(r.energy).epsilon(1e-12));
  const double h = 1e-4;  // energy round-off (~1e-12 eV) / h stays far below the tolerance
  double ferr = 0.0;
  for (int a : {0, 5, 17})
    for (int c = 0; c < 3; ++c) {
      Structure sp = s, sm = s;
      sp.positions(a, c) += h;
      sm.positions(a, c) -= h;
      const double fd = -(p.predict(sp, {false}).energy - p.predict(sm, {false}).energy) / (2 * h);
      ferr = std::max(ferr, std::abs(fd - r.forces(a, c)));
    }
  const double fscale = r.forces.cwiseAbs().maxCoeff();
  MESSAGE("force FD relative error " << ferr / fscale);
  CHECK(ferr / fscale < 1e-6);
  // W = -dE/dε for a deformation F = I + ε
  double werr = 0.0;
  for (int a = 0; a < 3; ++a)
    for (int b = 0; b < 3; ++b) {
      Eigen::Matrix3d eps = Eigen::Matrix3d::Zero();
      eps(a, b) = h;
      const double fd = -(p.predict(test::strained(s, eps), {false}).energy - p.predict(test::strained(s, -eps), {false}).energy) / (2 * h);
      werr = std::max(werr, std::abs(fd - r.virial(a, b)));
    }
  MESSAGE("virial FD relative error " << werr / r.virial.cwiseAbs().maxCoeff());
  CHECK(werr / r.virial.cwiseAbs().maxCoeff() < 1e-6);
}

TEST_CASE("streaming QR gives the same weights for any block size") {
  FitOptions o = options();
  o.block_rows = 150;  // many small blocks
  const Potential small = fit(morse_frames(12, 100), o);
  const Potential& big = model();
  for (const Structure& s : morse_frames(3, 500)) {
    const Prediction a = small.predict(s), b = big.predict(s);
    CHECK(std::abs(a.energy - b.energy) < 1e-8 * s.size());
    CHECK((a.forces - b.forces).cwiseAbs().maxCoeff() < 1e-8);
  }
}

TEST_CASE("predicted standard deviation grows away from the training data") {
  const Potential& p = model();
  std::vector<double> stds;
  for (double rattle : {0.05, 0.15, 0.3}) {
    Structure s = test::fcc(3.6, 2, rattle, 5);
    const Prediction r = p.predict(s, {false, true});
    REQUIRE(r.has_std);
    CHECK(r.energies_std.minCoeff() >= 0.0);
    stds.push_back(r.energies_std.mean());
  }
  Structure compressed = test::fcc(3.2, 2, 0.05, 5);
  stds.push_back(p.predict(compressed, {false, true}).energies_std.mean());
  MESSAGE("mean local std: " << stds[0] << " " << stds[1] << " " << stds[2] << " compressed " << stds[3]);
  CHECK(stds[0] < stds[1]);
  CHECK(stds[1] < stds[2]);
  CHECK(stds[0] < stds[3]);
}

TEST_CASE("model files round-trip bit-exactly and reject damage") {
  const Potential& p = model();
  const std::string text = model_to_string(p);
  const Potential q = model_from_string(text);
  CHECK(model_to_string(q) == text);
  const Structure s = test::fcc(3.6, 2, 0.1, 9);
  const Prediction a = p.predict(s, {true, true}), b = q.predict(s, {true, true});
  CHECK(a.energy == b.energy);
  CHECK(a.forces == b.forces);
  CHECK(a.energies_std == b.energies_std);

  auto err = [](const std::string& t) {
    try {
      model_from_string(t, "m.json");
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string();
  };
  CHECK(err(text.substr(0, text.size() / 2)).find("truncated or corrupted") != std::string::npos);
  std::string bad = text;
  const auto pos = bad.find("\"delta\":");
  REQUIRE(pos != std::string::npos);
  bad[pos + 9] = bad[pos + 9] == '1' ? '2' : '1';
  CHECK(err(bad).find("checksum") != std::string::npos);
  std::string ver = text;
  ver.replace(ver.find("\"version\": 1"), 12, "\"version\": 99");
  CHECK(err(ver).find("version 99 is not supported") != std::string::npos);
  CHECK(err("{\"hello\": 1}").find("not a soapgap model") != std::string::npos);
}

TEST_CASE("prediction on an unknown species is a clear error") {
  Structure s = test::fcc(3.6, 1, 0.0, 1);
  s.numbers[2] = 47;
  try {
    model().predict(s);
    FAIL("expected an error");
  } catch (const Error& e) {
    CHECK(std::string(e.what()).find("Ag, a species the model was not trained on") != std::string::npos);
  }
}

TEST_CASE("gap_fit-style term strings split into their terms") {
  const auto t = split_gap_string("{soap cutoff=4 n_max=2 l_max=1 atom_sigma=0.5 delta=1 n_sparse=5} : {distance_2b cutoff=3 delta=1}");
  REQUIRE(t.size() == 2);
  CHECK(t[0].rfind("soap", 0) == 0);
  CHECK(t[1].rfind("distance_2b", 0) == 0);
  CHECK(split_gap_string("{{soap cutoff=4 : distance_2b cutoff=3}}").size() == 2);
  CHECK_THROWS_AS(split_gap_string("soap cutoff=4} : {distance_2b"), Error);
}

TEST_CASE("fit input errors name the problem") {
  auto frames = morse_frames(2, 1);
  FitOptions o = options();
  o.e0.clear();
  o.e0_method = "isolated";
  try {
    fit(frames, o);
    FAIL("expected an error");
  } catch (const Error& e) {
    CHECK(std::string(e.what()).find("no isolated Cu atom") != std::string::npos);
  }
  o = options();
  o.default_sigma = {0.0, 0.1, 0.1};
  CHECK_THROWS_WITH_AS(fit(frames, o), doctest::Contains("must be positive"), Error);
  o = options();  // non-finite numbers given through the API are refused, never fitted with
  o.default_sigma = {0.001, std::numeric_limits<double>::infinity(), 0.1};
  CHECK_THROWS_WITH_AS(fit(frames, o), doctest::Contains("positive and finite"), Error);
  o = options();
  o.e0 = {{29, std::nan("")}};
  CHECK_THROWS_WITH_AS(fit(frames, o), doctest::Contains("e0 for Z=29 must be a finite number"), Error);
  o = options();
  o.sparse_jitter = std::nan("");
  CHECK_THROWS_WITH_AS(fit(frames, o), doctest::Contains("sparse_jitter"), Error);
  {
    const std::string path = (std::filesystem::temp_directory_path() / "soapgap_test_sparse_nan.txt").string();
    std::ofstream(path) << "0.5\n0.25\nnan\n";
    CHECK_THROWS_WITH_AS(read_sparse_points(path, 1), doctest::Contains("value 3 ('nan') is not a finite number"), Error);
  }
  frames[1].info["virial"] = InfoValue::real({1, 2, 3});
  CHECK_THROWS_WITH_AS(fit(frames, options()), doctest::Contains("frame 1"), Error);
}

TEST_CASE("e0_method=isolated takes only frames that really are isolated atoms") {
  const std::vector<Structure> bulk_frames = morse_frames(4, 7);
  auto one_atom = [](double energy, double box, bool periodic, const std::string& config_type) {
    Structure s;
    s.positions = Positions::Zero(1, 3);
    s.numbers = {29};
    s.cell = box * Eigen::Matrix3d::Identity();
    s.pbc = {periodic, periodic, periodic};
    s.info["energy"] = InfoValue::real({energy});
    if (!config_type.empty()) s.info["config_type"] = InfoValue::string(config_type);
    return s;
  };
  FitOptions o = options();
  o.e0.clear();
  o.e0_method = "isolated";
  // a one-atom bulk cell (2.5 Å, periodic) is never the isolated atom, before or after the real one
  for (bool bulk_first : {true, false}) {
    std::vector<Structure> frames = bulk_frames;
    const Structure bulk1 = one_atom(-3.5, 2.5, true, "");
    const Structure iso = one_atom(-0.25, 20.0, false, "");
    frames.push_back(bulk_first ? bulk1 : iso);
    frames.push_back(bulk_first ? iso : bulk1);
    CHECK(fit(frames, o).e0.at(29) == -0.25);
  }
  // a periodic box wider than the cutoff sees no image: isolated; so does config_type=isolated_atom
  std::vector<Structure> frames = bulk_frames;
  frames.push_back(one_atom(-0.5, 12.0, true, ""));
  CHECK(fit(frames, o).e0.at(29) == -0.5);
  frames = bulk_frames;
  frames.push_back(one_atom(-0.75, 2.5, true, "isolated_atom"));
  CHECK(fit(frames, o).e0.at(29) == -0.75);
  // only the bulk cell: no isolated atom
  frames = bulk_frames;
  frames.push_back(one_atom(-3.5, 2.5, true, ""));
  CHECK_THROWS_WITH_AS(fit(frames, o), doctest::Contains("no isolated Cu atom"), Error);
  // two isolated atoms that disagree: an error naming both frames
  frames = bulk_frames;
  frames.push_back(one_atom(-0.25, 20.0, false, ""));
  frames.back().frame = 10;
  frames.push_back(one_atom(-0.30, 20.0, false, ""));
  frames.back().frame = 11;
  CHECK_THROWS_WITH_AS(fit(frames, o), doctest::Contains("different energies"), Error);
  CHECK_THROWS_WITH_AS(fit(frames, o), doctest::Contains("frame 11"), Error);
  frames.back().info["energy"] = InfoValue::real({-0.25});  // agreeing duplicates are fine
  CHECK(fit(frames, o).e0.at(29) == -0.25);
}

TEST_CASE("a damaged or inconsistent model file is refused at load") {
  const std::string text = model_to_string(model());
  auto refused = [](const std::string& t) {
    try {
      model_from_string(t, "m.json");
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string();
  };
  // edit the payload and re-sign it, so only the consistency checks can catch it
  auto edited = [&](const std::function<void(nlohmann::json&)>& edit) {
    nlohmann::json doc = nlohmann::json::parse(text);
    edit(doc["payload"]);
    std::uint64_t h = 1469598103934665603ull;  // FNV-1a, the model file's checksum
    for (unsigned char c : doc["payload"].dump()) h = (h ^ c) * 1099511628211ull;
    doc["checksum_fnv1a64"] = std::to_string(h);
    return doc.dump();
  };
  CHECK(refused(text).empty());
  CHECK(refused(edited([](nlohmann::json&) {})).empty());  // re-signing alone changes nothing
  std::string e = refused(edited([](nlohmann::json& p) { p["posterior"]["L"] = {{"rows", 0}, {"cols", 0}, {"float64_base64", ""}}; }));
  CHECK_MESSAGE(e.find("only one of its factors") != std::string::npos, e);
  e = refused(edited([](nlohmann::json& p) { p["posterior"]["R"]["rows"] = 3; }));
  CHECK_MESSAGE(!e.empty(), e);
  e = refused(edited([](nlohmann::json& p) { p["coordinates"][0]["sparse"]["rows"] = 4611686018427387904L; }));
  CHECK_MESSAGE(e.find("does not fit its data") != std::string::npos, e);
  e = refused(edited([](nlohmann::json& p) { p["coordinates"][0]["kernel"]["delta"] = -1.0; }));
  CHECK_MESSAGE(e.find("delta and zeta must be positive") != std::string::npos, e);
  e = refused(edited([](nlohmann::json& p) { p["coordinates"][0]["kernel"]["zeta"] = nullptr; }));
  CHECK_MESSAGE(e.find("malformed") != std::string::npos, e);
  Potential bad = model_from_string(text);  // a NaN in the base64 weights, written and signed by the engine
  bad.coordinates[0].alpha[2] = std::nan("");
  e = refused(model_to_string(bad));
  CHECK_MESSAGE(e.find("alpha: entry 2 is not a finite number") != std::string::npos, e);
  e = refused(edited([](nlohmann::json& p) { p["e0"]["Cu"]["Z"] = 300; }));
  CHECK_MESSAGE(e.find("atomic number 300") != std::string::npos, e);
}

TEST_CASE("sparse points given in a file (values or indices) reproduce the selected ones") {
  const auto frames = morse_frames(6, 300);
  FitOptions o = options();
  o.gap = {"soap cutoff=4.5 l_max=4 n_max=5 atom_sigma=0.5 cutoff_transition_width=1.0 delta=0.5 zeta=4 n_sparse=40 "
           "sparse_method=cur_points"};
  const Potential a = fit(frames, o);
  const std::string values = (std::filesystem::temp_directory_path() / "soapgap_sparse_values.txt").string();
  {
    std::ofstream out(values);
    out.precision(17);
    const auto& S = a.coordinates[0].sparse;
    for (int i = 0; i < S.rows(); ++i)
      for (int k = 0; k < S.cols(); ++k) out << S(i, k) << "\n";  // QUIP sparseX layout: one value per line
  }
  o.gap = {"soap cutoff=4.5 l_max=4 n_max=5 atom_sigma=0.5 cutoff_transition_width=1.0 delta=0.5 zeta=4 "
           "sparse_method=file sparse_file=" + values};
  const Potential b = fit(frames, o);
  REQUIRE(b.coordinates[0].n_sparse() == a.coordinates[0].n_sparse());
  const Structure s = test::fcc(3.6, 2, 0.1, 21);
  CHECK(std::abs(a.predict(s).energy - b.predict(s).energy) < 1e-10);

  const std::string bad = (std::filesystem::temp_directory_path() / "soapgap_sparse_bad.txt").string();
  std::ofstream(bad) << "1 2 3\n";
  o.gap = {"soap cutoff=4.5 l_max=4 n_max=5 atom_sigma=0.5 delta=0.5 zeta=4 sparse_method=file sparse_file=" + bad};
  CHECK_THROWS_WITH_AS(fit(frames, o), doctest::Contains("not a multiple of the descriptor dimension"), Error);
  const std::string idx = (std::filesystem::temp_directory_path() / "soapgap_sparse_idx.txt").string();
  std::ofstream(idx) << "1\n5\n9\n150\n";
  o.gap = {"soap cutoff=4.5 l_max=4 n_max=5 atom_sigma=0.5 delta=0.5 zeta=4 sparse_method=index_file sparse_file=" + idx};
  CHECK(fit(frames, o).coordinates[0].n_sparse() == 4);
  std::ofstream(idx) << "0\n";
  CHECK_THROWS_WITH_AS(fit(frames, o), doctest::Contains("is not in 1.."), Error);
}
