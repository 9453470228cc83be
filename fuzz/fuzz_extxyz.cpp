// Fuzzes the extended-XYZ reader (ExtxyzReader, the streaming engine behind read_extxyz): the
// input bytes are written to a per-process temp file and read frame by frame. Every accepted
// frame that ExtxyzWriter writes must read back unchanged (species, positions, cell, pbc), and
// small frames also go through build_neighbour_list (cutoff 3 Å).
#include <cctype>
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "fuzz_common.hpp"
#include "soapgap/error.hpp"
#include "soapgap/extxyz.hpp"
#include "soapgap/neighbours.hpp"

using namespace soapgap;

namespace {

// Workarounds for known findings (fuzz/README.md), each on only with SOAPGAP_FUZZ_SKIP_KNOWN:
// extxyz-huge-natoms-oom / extxyz-huge-columns-oom: the atom count (<= 1e8) and the Properties
// column widths (<= 9999) size the arrays before any atom line is read. Skips inputs with a line
// that starts with an integer above 2000.
bool large_count(const std::string& text) {
  size_t pos = 0;
  while (pos < text.size()) {
    size_t eol = text.find('\n', pos);
    if (eol == std::string::npos) eol = text.size();
    const std::string line = text.substr(pos, eol - pos);
    size_t b = line.find_first_not_of(" \t\r");
    if (b != std::string::npos && (std::isdigit(static_cast<unsigned char>(line[b])) || line[b] == '+')) {
      size_t e = b + (line[b] == '+');
      long v = 0;
      while (e < line.size() && std::isdigit(static_cast<unsigned char>(line[e])) && v < 1000000000) v = v * 10 + (line[e++] - '0');
      if (v > 2000) return true;
    }
    pos = eol + 1;
  }
  return false;
}

// extxyz-Z-string-column-null-write: a Properties column "Z:S:<n>" makes the reader write a
// string into s.arrays["Z"].strings[i] of an array that was never sized.
bool z_string_column(const std::string& text) {
  for (size_t p = text.find("Z:S:"); p != std::string::npos; p = text.find("Z:S:", p + 1))
    if (p == 0 || std::string(":=\"' \t").find(text[p - 1]) != std::string::npos) return true;
  return false;
}

// extxyz-writer-integer-overflow: the writer casts Integer values to long without a range check.
bool writer_known_bug(const std::vector<Structure>& frames) {
  auto out_of_range = [](double v) { return !(std::abs(v) < 9.2e18); };
  for (const auto& s : frames) {
    for (const auto& [k, v] : s.info)
      if (v.kind == InfoValue::Kind::Integer)
        for (double x : v.numbers)
          if (out_of_range(x)) return true;
    for (const auto& [k, a] : s.arrays)
      if (a.kind == InfoValue::Kind::Integer && a.numbers.size() && !(a.numbers.array().abs() < 9.2e18).all()) return true;
  }
  return false;
}

bool same_core(const Structure& a, const Structure& b, std::string& why) {
  if (a.numbers != b.numbers) return why = "species differ", false;
  if (a.positions.rows() != b.positions.rows() || !(a.positions.array() == b.positions.array()).all())
    return why = "positions differ", false;
  if (!(a.cell.array() == b.cell.array()).all()) return why = "cell differs", false;
  if (a.pbc != b.pbc) return why = "pbc differs", false;
  if (a.arrays.size() != b.arrays.size()) return why = "number of per-atom arrays differs", false;
  return true;
}

// Same test as build_neighbour_list's own limit, but much tighter, to keep each input fast.
bool cheap_neighbour_list(const Structure& s, double cutoff) {
  if (s.size() > 200) return false;
  if (!(s.pbc[0] || s.pbc[1] || s.pbc[2])) return true;
  const Eigen::Matrix3d inv = s.completed_cell().inverse();
  double n_images = 1.0;
  for (int k = 0; k < 3; ++k)
    if (s.pbc[k]) n_images *= 2.0 * std::ceil(cutoff * inv.col(k).norm()) + 1.0;
  return std::isfinite(n_images) && n_images * std::max(s.size(), 1) <= 2e4;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  if ((fuzz::skip_known("extxyz-huge-natoms-oom") || fuzz::skip_known("extxyz-huge-columns-oom")) && large_count(text))
    return 0;
  if (fuzz::skip_known("extxyz-Z-string-column-null-write") && z_string_column(text)) return 0;
  const auto& dir = fuzz::scratch_dir("extxyz");
  const std::string in = (dir / "in.xyz").string();
  fuzz::write_file(in, text);

  std::vector<Structure> frames;
  fuzz::guarded("ExtxyzReader::next", [&] {
    ExtxyzReader r(in);
    while (auto s = r.next()) {
      frames.push_back(std::move(*s));
      if (frames.size() >= 64) break;
    }
  });
  if (frames.empty()) return 0;

  // extxyz-neighbour-list-nan (-bins, -periodic): huge (finite) coordinates overflow the bin arithmetic to inf/NaN.
  auto huge = [](const Structure& s) {
    return (s.positions.size() && s.positions.cwiseAbs().maxCoeff() > 1e100) || s.cell.cwiseAbs().maxCoeff() > 1e100;
  };
  for (const auto& s : frames)
    if (cheap_neighbour_list(s, 3.0) && !(fuzz::skip_known("extxyz-neighbour-list-nan") && huge(s)))
      fuzz::guarded("build_neighbour_list", [&] {
        const NeighbourList nl = build_neighbour_list(s, 3.0);
        if (static_cast<int>(nl.offset.size()) != s.size() + 1) fuzz::property_failed("neighbour list offsets", "");
      });

  if (fuzz::skip_known("extxyz-writer-integer-overflow") && writer_known_bug(frames)) return 0;
  // Write what was read and read it back.
  const std::string rt = (dir / "roundtrip.xyz").string();
  // The writer may refuse (soapgap::Error) what it cannot represent, e.g. names with spaces.
  const bool written = fuzz::guarded("ExtxyzWriter::write", [&] {
    ExtxyzWriter w(rt, true);
    for (const auto& s : frames) w.write(s);
    w.close();
  });
  if (!written) return 0;
  std::vector<Structure> back;
  std::string err;
  try {
    back = read_extxyz(rt);
  } catch (const Error& e) {
    err = e.what();
  } catch (const std::exception& e) {
    fuzz::unexpected_exception("read_extxyz (round trip)", &e);
  }
  if (!err.empty()) fuzz::property_failed("ExtxyzWriter output is not readable", err);
  if (back.size() != frames.size()) fuzz::property_failed("round trip changed the number of frames", "");
  for (size_t k = 0; k < frames.size(); ++k) {
    std::string why;
    if (!same_core(frames[k], back[k], why))
      fuzz::property_failed("round trip changed a frame", "frame " + std::to_string(k) + ": " + why);
  }
  return 0;
}
