#include <doctest/doctest.h>

#include <cstdio>
#include <filesystem>
#include <fstream>

#include "helpers.hpp"
#include "soapgap/error.hpp"
#include "soapgap/extxyz.hpp"
#include "soapgap/neighbours.hpp"

using namespace soapgap;

namespace {
std::string tmpfile(const std::string& name) {
  return (std::filesystem::temp_directory_path() / ("soapgap_test_" + name)).string();
}
void write_text(const std::string& path, const std::string& text) { std::ofstream(path) << text; }
std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

// all pairs within the cutoff by brute force over a generous image range
std::vector<std::pair<int, double>> brute(const Structure& s, int i, double rc) {
  std::vector<std::pair<int, double>> out;
  const int R = 4;
  for (int a = -R; a <= R; ++a)
    for (int b = -R; b <= R; ++b)
      for (int c = -R; c <= R; ++c) {
        if ((!s.pbc[0] && a) || (!s.pbc[1] && b) || (!s.pbc[2] && c)) continue;
        const Eigen::Vector3d shift = a * s.cell.row(0) + b * s.cell.row(1) + c * s.cell.row(2);
        for (int j = 0; j < s.size(); ++j) {
          const double r = (s.positions.row(j).transpose() + shift - s.positions.row(i).transpose()).norm();
          if (r > 0 && r < rc) out.push_back({j, r});
        }
      }
  std::sort(out.begin(), out.end());
  return out;
}
}  // namespace

TEST_CASE("neighbour list equals brute force: triclinic, cutoff larger than the cell, mixed pbc") {
  Structure s;
  s.positions.resize(3, 3);
  s.positions << 0.1, 0.2, 0.3, 1.3, 0.9, 0.4, 0.7, 1.8, 1.1;
  s.numbers = {14, 14, 8};
  s.cell << 2.7, 0.0, 0.0, 0.9, 2.5, 0.0, 0.4, 0.6, 2.9;
  for (auto pbc : {std::array<bool, 3>{true, true, true}, std::array<bool, 3>{true, false, true},
                   std::array<bool, 3>{false, false, false}}) {
    s.pbc = pbc;
    const double rc = 5.2;
    const NeighbourList nl = build_neighbour_list(s, rc);
    for (int i = 0; i < s.size(); ++i) {
      std::vector<std::pair<int, double>> got;
      for (const Neighbour* nb = nl.begin(i); nb != nl.end(i); ++nb) {
        got.push_back({nb->j, nb->r});
        CHECK(nb->rij.norm() == doctest::Approx(nb->r));
      }
      std::sort(got.begin(), got.end());
      const auto want = brute(s, i, rc);
      REQUIRE(got.size() == want.size());
      for (size_t k = 0; k < got.size(); ++k) {
        CHECK(got[k].first == want[k].first);
        CHECK(got[k].second == doctest::Approx(want[k].second).epsilon(1e-12));
      }
    }
  }
}

TEST_CASE("overlapping atoms and NaN coordinates are clear errors") {
  Structure s = test::fcc(3.6, 1, 0.0, 1);
  s.positions.row(1) = s.positions.row(0) + Eigen::RowVector3d(1e-4, 0, 0);
  CHECK(error_of([&] { build_neighbour_list(s, 3.0); }).find("overlap") != std::string::npos);
  s = test::fcc(3.6, 1, 0.0, 1);
  s.positions(2, 1) = std::nan("");
  CHECK(error_of([&] { build_neighbour_list(s, 3.0); }).find("non-finite") != std::string::npos);
  CHECK(error_of([&] { build_neighbour_list(test::fcc(3.6, 1, 0.0, 1), -1.0); }).find("cutoff") != std::string::npos);
}

TEST_CASE("extxyz round trip is exact and keeps properties") {
  Structure s = test::fcc(3.61, 2, 0.05, 3);
  s.info["energy"] = InfoValue::real({-123.456789012345});
  s.info["virial"] = InfoValue::real({1, 2, 3, 2, 5, 6, 3, 6, 9.5});
  s.info["config_type"] = InfoValue::string("md snapshot");
  AtomArray f;
  f.numbers = RowMatrixXd::Random(s.size(), 3);
  s.arrays["forces"] = f;
  s.pbc = {true, false, true};
  const std::string path = tmpfile("roundtrip.xyz");
  std::filesystem::remove(path);
  {
    ExtxyzWriter w(path);
    w.write(s);
    w.write(s);
    CHECK(!std::filesystem::exists(path));  // nothing at the path until the file is complete
    w.close();
  }
  CHECK(error_of([&] { ExtxyzWriter w(path); }).find("refusing to overwrite") != std::string::npos);
  const auto frames = read_extxyz(path);
  REQUIRE(frames.size() == 2);
  const Structure& r = frames[1];
  CHECK(r.frame == 1);
  CHECK(r.positions == s.positions);
  CHECK(r.cell == s.cell);
  CHECK(r.pbc == s.pbc);
  CHECK(r.numbers == s.numbers);
  CHECK(r.info_reals("energy")[0] == -123.456789012345);
  CHECK(r.info_reals("virial") == s.info_reals("virial"));
  CHECK(r.info.at("config_type").text == "md snapshot");
  CHECK(r.array_reals("forces", 3) == f.numbers);
}

TEST_CASE("extxyz writing quotes what needs quotes and refuses what extxyz cannot hold") {
  Structure s = test::fcc(3.61, 1, 0.0, 1);
  s.info["config_type"] = InfoValue::string("bulk, strained {a=1}");
  s.info["note"] = InfoValue::string("say \"hi\"");
  const std::string path = tmpfile("quoting.xyz");
  std::filesystem::remove(path);
  {
    ExtxyzWriter w(path);
    w.write(s);
    w.close();
  }
  const auto r = read_extxyz(path);
  CHECK(r[0].info.at("config_type").text == "bulk, strained {a=1}");
  CHECK(r[0].info.at("note").text == "say \"hi\"");
  auto refused = [&](Structure t) {
    std::filesystem::remove(path);
    ExtxyzWriter w(path);
    return error_of([&] { w.write(t); });
  };
  Structure t = s;
  AtomArray labels;
  labels.kind = InfoValue::Kind::String;
  labels.strings.assign(s.size(), "a b");
  t.arrays["label"] = labels;
  CHECK(refused(t).find("per-atom string property 'label'") != std::string::npos);
  t = s;
  t.info["bad key"] = InfoValue::real({1.0});
  CHECK(refused(t).find("frame property name 'bad key'") != std::string::npos);
  t = s;
  t.info["two_lines"] = InfoValue::string("a\nb");
  CHECK(refused(t).find("line break") != std::string::npos);
}

TEST_CASE("extxyz reads ASE-style files: quoted values, booleans, arrays, Z column") {
  const std::string path = tmpfile("ase.xyz");
  write_text(path,
             "2\n"
             "Lattice=\"5.0 0.0 0.0 0.0 5.0 0.0 0.0 0.0 5.0\" Properties=species:S:1:pos:R:3:Z:I:1:forces:R:3:fixed:L:1 "
             "energy=-1.5 is_bulk=T name=\"two words\" stress=\"1 2 3 4 5 6\" flag pbc=\"T T F\"\n"
             "H 0.0 0.0 0.0 1 0.1 0.2 0.3 T\n"
             "O 1.0 0.0 0.0 8 -0.1 -0.2 -0.3 F\n");
  const auto fr = read_extxyz(path);
  REQUIRE(fr.size() == 1);
  CHECK(fr[0].numbers == std::vector<int>{1, 8});
  CHECK(fr[0].pbc == std::array<bool, 3>{true, true, false});
  CHECK(fr[0].info.at("name").text == "two words");
  CHECK(fr[0].info.at("is_bulk").kind == InfoValue::Kind::Logical);
  CHECK(fr[0].info.at("flag").numbers[0] == 1.0);
  CHECK(fr[0].info_reals("stress").size() == 6);
  CHECK(fr[0].array_reals("forces", 3)(1, 2) == -0.3);
}

TEST_CASE("extxyz errors name the file, frame, line and field") {
  const std::string path = tmpfile("bad.xyz");
  const std::string good = "1\nProperties=species:S:1:pos:R:3 energy=1.0\nCu 0 0 0\n";
  write_text(path, good + "3\nProperties=species:S:1:pos:R:3\nCu 0 0 0\nCu 1 1 1\n");
  std::string e = error_of([&] { read_extxyz(path); });
  CHECK(e.find(path) != std::string::npos);
  CHECK(e.find("frame 1") != std::string::npos);
  CHECK(e.find("truncated") != std::string::npos);

  write_text(path, "2\nProperties=species:S:1:pos:R:3\nCu 0 0 0 5\nCu 1 1 1\n");
  CHECK(error_of([&] { read_extxyz(path); }).find("columns") != std::string::npos);

  write_text(path, "1\nProperties=species:S:1:pos:R:3\nXx 0 0 0\n");
  CHECK(error_of([&] { read_extxyz(path); }).find("unknown element 'Xx'") != std::string::npos);

  write_text(path, "1\nProperties=species:S:1:pos:R:3\nCu 0 nan 0\n");
  e = error_of([&] { read_extxyz(path); });
  CHECK(e.find("field 'pos': cannot read 'nan' as a finite number") != std::string::npos);
  for (const char* v : {"inf", "-inf", "nan", "+nan", "NaN", "1e999"}) {  // anywhere a number is read
    write_text(path, std::string("1\nProperties=species:S:1:pos:R:3 energy=") + v + "\nCu 0 0 0\n");
    e = error_of([&] { read_extxyz(path); });
    CHECK_MESSAGE(e.find("field 'energy'") != std::string::npos, e);
    write_text(path, std::string("1\nProperties=species:S:1:pos:R:3:forces:R:3\nCu 0 0 0 0 ") + v + " 0\n");
    e = error_of([&] { read_extxyz(path); });
    CHECK_MESSAGE(e.find("field 'forces'") != std::string::npos, e);
    write_text(path, std::string("1\nLattice=\"1 0 0 0 1 0 0 0 ") + v + "\" Properties=species:S:1:pos:R:3\nCu 0 0 0\n");
    e = error_of([&] { read_extxyz(path); });
    CHECK_MESSAGE(e.find("field 'Lattice'") != std::string::npos, e);
  }

  // Z column: integers in 1..118 only, never a cast of 6.7
  write_text(path, "1\nProperties=Z:R:1:pos:R:3\n6.7 0 0 0\n");
  e = error_of([&] { read_extxyz(path); });
  CHECK_MESSAGE(e.find("field 'Z': '6.7' is not an atomic number") != std::string::npos, e);
  write_text(path, "1\nProperties=Z:I:1:pos:R:3\n6 0 0 0\n");
  CHECK(read_extxyz(path)[0].numbers[0] == 6);
  write_text(path, "1\nProperties=species:S:1:pos:R:3:Z:S:1\nC 0 0 0 six\n");  // fuzz finding: wrote out of bounds
  CHECK(error_of([&] { read_extxyz(path); }).find("column 'Z' must be Z:I:1") != std::string::npos);
  write_text(path, "1\nProperties=species:S:2:pos:R:3\nC C 0 0 0\n");
  CHECK(error_of([&] { read_extxyz(path); }).find("column 'species' must be species:S:1") != std::string::npos);

  // a file cut inside its last number is refused, not read as complete
  write_text(path, good + "2\nProperties=species:S:1:pos:R:3\nCu 0 0 0\nCu 1 1 1.2");
  e = error_of([&] { read_extxyz(path); });
  CHECK_MESSAGE(e.find("frame 1, line 7: the file ends inside this atom line") != std::string::npos, e);

  // a directory is not an empty file
  e = error_of([&] { read_extxyz(std::filesystem::path(path).parent_path().string()); });
  CHECK_MESSAGE(e.find("is a directory") != std::string::npos, e);

  // binary junk is escaped in messages
  write_text(path, std::string("\x7f" "ELF\x02\x01\n", 7));
  e = error_of([&] { read_extxyz(path); });
  CHECK_MESSAGE(e.find("'\\x7fELF\\x02\\x01'") != std::string::npos, e);
  for (char c : e) CHECK(((c >= 0x20 && c < 0x7f) || c == '\n'));

  write_text(path, "abc\n");
  CHECK(error_of([&] { read_extxyz(path); }).find("number of atoms") != std::string::npos);

  write_text(path, good);
  const auto fr = read_extxyz(path);
  CHECK(error_of([&] { fr[0].info_reals("free_energy"); }).find("missing frame property 'free_energy'") !=
        std::string::npos);
  CHECK(error_of([&] { fr[0].array_reals("forces", 3); }).find("missing per-atom property 'forces'") != std::string::npos);
  CHECK(error_of([&] { read_extxyz("/nonexistent/file.xyz"); }).find("cannot open") != std::string::npos);
}

TEST_CASE("malformed extxyz columns: repeated names, Z column, wrong array rows") {
  const std::string path = tmpfile("cols.xyz");
  write_text(path, "1\nProperties=species:S:1:pos:R:3:forces:R:3:forces:R:3\nCu 0 0 0 1 2 3 4 5 6\n");
  CHECK(error_of([&] { read_extxyz(path); }).find("column 'forces' given twice") != std::string::npos);
  write_text(path, "1\nProperties=species:S:1:pos:R:3:positions:R:3\nCu 0 0 0 1 2 3\n");
  CHECK(error_of([&] { read_extxyz(path); }).find("given twice") != std::string::npos);
  write_text(path, "2\nProperties=Z:I:1:pos:R:3\n29 0 0 0\n13 2 0 0\n");
  const auto fr = read_extxyz(path);
  CHECK(fr[0].numbers == std::vector<int>{29, 13});
  CHECK(fr[0].arrays.count("Z") == 0);
  write_text(path, "99999999999\nProperties=species:S:1:pos:R:3\n");
  CHECK(error_of([&] { read_extxyz(path); }).find("absurdly large") != std::string::npos);
  Structure s = test::fcc(3.6, 1, 0.0, 1);
  AtomArray f;
  f.numbers = RowMatrixXd::Zero(2, 3);
  s.arrays["forces"] = f;
  CHECK(error_of([&] { s.validate(); }).find("'forces' has 2 rows for 4 atoms") != std::string::npos);
}

TEST_CASE("wires: periodic along one axis without the other lattice vectors; huge cutoffs are refused") {
  Structure s;
  s.positions.resize(2, 3);
  s.positions << 0, 0, 0, 1.2, 0.3, 1.1;
  s.numbers = {6, 6};
  s.cell(2, 2) = 2.5;
  s.pbc = {false, false, true};
  const NeighbourList nl = build_neighbour_list(s, 3.0);
  for (int i = 0; i < 2; ++i) {
    const auto want = brute(s, i, 3.0);
    CHECK(nl.count(i) == static_cast<int>(want.size()));
  }
  s.cell.setZero();
  s.cell(0, 2) = 2.5;  // periodic along a = (0, 0, 2.5)
  s.pbc = {true, false, false};
  CHECK(build_neighbour_list(s, 3.0).count(0) == nl.count(0));
  CHECK(error_of([&] { build_neighbour_list(test::fcc(3.6, 1, 0.0, 1), 1e6); }).find("too many") != std::string::npos);
}
