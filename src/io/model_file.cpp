#include "soapgap/model_file.hpp"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "soapgap/atomic_file.hpp"
#include "soapgap/error.hpp"
#include "soapgap/gap_xml.hpp"
#include "soapgap/model_baseline.hpp"
#include "soapgap/pair_baselines.hpp"

namespace soapgap {

using nlohmann::json;

namespace {

const char* kB64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

std::string b64_encode(const double* data, size_t n) {
  if (n == 0) return "";
  std::string bytes(n * 8, '\0');
  std::memcpy(bytes.data(), data, n * 8);  // little-endian hosts only (x86_64, aarch64)
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  size_t i = 0;
  for (; i + 2 < bytes.size(); i += 3) {
    const uint32_t v = (uint8_t(bytes[i]) << 16) | (uint8_t(bytes[i + 1]) << 8) | uint8_t(bytes[i + 2]);
    for (int k = 3; k >= 0; --k) out += kB64[(v >> (6 * k)) & 63];
  }
  const size_t rest = bytes.size() - i;
  if (rest) {
    uint32_t v = uint8_t(bytes[i]) << 16;
    if (rest == 2) v |= uint8_t(bytes[i + 1]) << 8;
    out += kB64[(v >> 18) & 63];
    out += kB64[(v >> 12) & 63];
    out += rest == 2 ? kB64[(v >> 6) & 63] : '=';
    out += '=';
  }
  return out;
}

std::vector<double> b64_decode(const std::string& s, size_t expect, const std::string& what) {
  int rev[256];
  std::fill(rev, rev + 256, -1);
  for (int k = 0; k < 64; ++k) rev[static_cast<unsigned char>(kB64[k])] = k;
  std::string bytes;
  uint32_t v = 0;
  int bits = 0;
  for (char c : s) {
    if (c == '=') break;
    const int r = rev[static_cast<unsigned char>(c)];
    if (r < 0) throw Error(what + ": invalid base64 data");
    v = (v << 6) | r;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      bytes += static_cast<char>((v >> bits) & 0xff);
    }
  }
  if (bytes.size() != expect * 8)
    throw Error(what + ": expected " + std::to_string(expect) + " numbers, found " + std::to_string(bytes.size() / 8));
  std::vector<double> out(expect);
  if (expect) std::memcpy(out.data(), bytes.data(), bytes.size());
  return out;
}

uint64_t fnv1a(const std::string& s) {
  uint64_t h = 1469598103934665603ull;
  for (unsigned char c : s) {
    h ^= c;
    h *= 1099511628211ull;
  }
  return h;
}

json matrix_json(const Eigen::Ref<const RowMatrixXd>& m) {
  RowMatrixXd c = m;
  return {{"rows", c.rows()}, {"cols", c.cols()}, {"float64_base64", b64_encode(c.data(), c.size())}};
}

// A JSON integer (a float such as 1e300 would be cast, not converted).
long integer(const json& j, const std::string& what) {
  if (!j.is_number_integer()) throw Error(what + " must be an integer");
  return j.get<long>();
}

RowMatrixXd matrix_from(const json& j, const std::string& what) {
  const long r = integer(j.at("rows"), what + " rows"), c = integer(j.at("cols"), what + " cols");
  if (r < 0 || c < 0) throw Error(what + ": negative shape");
  const std::string& data = j.at("float64_base64").get_ref<const std::string&>();
  // the text holds 4 characters per 3 bytes: a shape it cannot hold is refused before any allocation
  if (c > 0 && static_cast<unsigned long>(r) > data.size() / 6 / static_cast<unsigned long>(c) + 1)
    throw Error(what + ": shape " + std::to_string(r) + "x" + std::to_string(c) + " does not fit its data");
  const auto v = b64_decode(data, static_cast<size_t>(r) * static_cast<size_t>(c), what);
  for (size_t k = 0; k < v.size(); ++k)
    if (!std::isfinite(v[k])) throw Error(what + ": entry " + std::to_string(k) + " is not a finite number");
  return Eigen::Map<const RowMatrixXd>(v.data(), r, c);
}

double finite(const json& j, const std::string& what) {
  const double v = j.get<double>();
  if (!std::isfinite(v)) throw Error(what + " is not a finite number");
  return v;
}

std::vector<double> row_values(const json& j, const std::string& what) {
  const RowMatrixXd m = matrix_from(j, what);
  return std::vector<double>(m.data(), m.data() + m.size());
}

// Baselines by value: analytic terms as their option string, tables with their points, models
// as a nested model document (so the file is self-contained).
json baseline_json(const Baseline& b) {
  json j = {{"kind", b.kind()}, {"spec", b.to_string()}};
  if (const auto* t = dynamic_cast<const PairTable*>(&b)) {
    j["species"] = {t->species_pair().first, t->species_pair().second};
    const auto row = [](const std::vector<double>& v) { return matrix_json(Eigen::Map<const RowMatrixXd>(v.data(), 1, v.size())); };
    j["r"] = row(t->r());
    j["e"] = row(t->e());
    j["f"] = row(t->f());
  } else if (const auto* m = dynamic_cast<const ModelBaseline*>(&b)) {
    j["model"] = json::parse(model_to_string(m->model()));
  }
  return j;
}

std::shared_ptr<const Baseline> baseline_from(const json& j, const std::string& what) {
  const std::string kind = j.at("kind").get<std::string>();
  if (kind == "table") {
    const auto sp = j.at("species").get<std::vector<int>>();
    if (sp.size() != 2 || sp[0] < 1 || sp[0] > 118 || sp[1] < 1 || sp[1] > 118) throw Error(what + ": table species must be two atomic numbers");
    const std::string source = Options::parse(j.at("spec").get<std::string>(), what).get_string({"source"}, what);
    return std::make_shared<const PairTable>(std::make_pair(sp[0], sp[1]), row_values(j.at("r"), what + " r"),
                                             row_values(j.at("e"), what + " e"), row_values(j.at("f"), what + " f"),
                                             source);
  }
  if (kind == "model") {
    auto inner = std::make_shared<const Potential>(model_from_string(j.at("model").dump(), what));
    const std::string spec = j.at("spec").get<std::string>();
    return std::make_shared<const ModelBaseline>(inner, strip_group(Options::parse(spec, what).get_string({"source"}, what)));
  }
  // only terms defined by their parameters alone: a spec must never make loading read another file
  const std::string spec = j.at("spec").get<std::string>();
  if ((kind != "zbl" && kind != "coulomb" && kind != "dispersion") || Options::parse(spec, what).name() != kind)
    throw Error(what + ": unknown baseline kind '" + excerpt(kind) + "' or a spec of another kind");
  return make_analytic_baseline(spec);
}

}  // namespace

std::string model_to_string(const Potential& p) {
  json payload;
  json e0 = json::object();
  for (const auto& [z, v] : p.e0) e0[chemical_symbol(z)] = {{"Z", z}, {"value", v}};
  payload["e0"] = e0;
  payload["coordinates"] = json::array();
  for (const auto& co : p.coordinates) {
    json c;
    c["descriptor"] = co.descriptor_string;
    c["kernel"] = {{"covariance_type", co.kernel.type_name()}, {"delta", co.kernel.delta}, {"f0", co.kernel.f0},
                   {"zeta", co.kernel.zeta}};
    if (co.kernel.theta.size()) c["kernel"]["theta"] = std::vector<double>(co.kernel.theta.data(), co.kernel.theta.data() + co.kernel.theta.size());
    c["sparse"] = matrix_json(co.sparse);
    c["sparse_cutoff"] = matrix_json(co.sparse_cutoff.transpose());
    c["alpha"] = matrix_json(co.alpha.transpose());
    payload["coordinates"].push_back(c);
  }
  payload["posterior"] = {{"L", matrix_json(p.L)}, {"R", matrix_json(p.R)}};
  payload["metadata"] = p.metadata;
  if (!p.baselines.empty()) {
    payload["baselines"] = json::array();
    for (const auto& b : p.baselines) payload["baselines"].push_back(baseline_json(*b));
  }
  // large models (M = 9000: L and R are 1.3 GB of base64) must not be copied needlessly: the
  // checksummed text is freed before the document is written, the payload moved into it
  std::string checksum;
  {
    const std::string body = payload.dump(-1, ' ', false, json::error_handler_t::replace);
    checksum = std::to_string(fnv1a(body));
  }
  json doc;
  doc["format"] = "soapgap-model";
  doc["version"] = p.baselines.empty() ? 1 : kModelFormatVersion;  // version-1 readers can read models without baselines
  doc["payload"] = std::move(payload);
  doc["checksum_fnv1a64"] = checksum;
  return doc.dump(1, ' ', false, json::error_handler_t::replace);  // metadata from XML may hold any bytes
}

// Deepest nesting of [ and { outside strings: the JSON parser recurses per level, so a damaged or
// hostile file with thousands of levels must be refused before it can exhaust the stack.
int json_nesting_depth(const std::string& text) {
  int depth = 0, deepest = 0;
  bool in_string = false;
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (in_string) {
      if (c == '\\') ++i;
      else if (c == '"') in_string = false;
    } else if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      deepest = std::max(deepest, ++depth);
    } else if (c == ']' || c == '}') {
      --depth;
    }
  }
  return deepest;
}

Potential model_from_string(const std::string& text, const std::string& source) {
  if (json_nesting_depth(text) > 32) throw Error(source + ": not a soapgap model file (JSON nested too deeply)");
  json doc;
  try {
    doc = json::parse(text);
  } catch (const std::exception& e) {
    throw Error(source + ": not a valid soapgap model file (truncated or corrupted?): " + e.what());
  }
  try {
    if (!doc.is_object() || doc.value("format", "") != "soapgap-model")
      throw Error(source + ": not a soapgap model file (missing format=soapgap-model)");
    const long version = integer(doc.at("version"), source + ": version");
    if (version < 1 || version > kModelFormatVersion)
      throw Error(source + ": model format version " + std::to_string(version) + " is not supported (this soapgap reads version " +
                  std::to_string(kModelFormatVersion) + ")");
    const json& payload = doc.at("payload");
    if (std::to_string(fnv1a(payload.dump(-1, ' ', false, json::error_handler_t::replace))) !=
        doc.at("checksum_fnv1a64").get<std::string>())
      throw Error(source + ": checksum mismatch: the model file is corrupted");
    Potential p;
    for (const auto& [sym, v] : payload.at("e0").items()) {
      const long z = integer(v.at("Z"), source + ": e0 Z");
      if (z < 1 || z > 118) throw Error(source + ": e0 of '" + excerpt(sym) + "' has atomic number " + std::to_string(z));
      p.e0[z] = finite(v.at("value"), source + ": e0 of " + chemical_symbol(z));
    }
    int k = 0;
    for (const auto& c : payload.at("coordinates")) {
      const std::string what = source + ": coordinate " + std::to_string(k++);
      Coordinate co;
      co.descriptor_string = c.at("descriptor").get<std::string>();
      co.descriptor = make_descriptor(Options::parse(co.descriptor_string, what));
      const json& kj = c.at("kernel");
      co.kernel.type = Kernel::parse_type(kj.at("covariance_type").get<std::string>());
      co.kernel.delta = finite(kj.at("delta"), what + " delta");
      co.kernel.f0 = finite(kj.at("f0"), what + " f0");
      co.kernel.zeta = finite(kj.at("zeta"), what + " zeta");
      if (!(co.kernel.delta > 0) || !(co.kernel.zeta > 0)) throw Error(what + ": delta and zeta must be positive");
      if (kj.contains("theta")) {
        const auto th = kj.at("theta").get<std::vector<double>>();
        co.kernel.theta = Eigen::Map<const Eigen::VectorXd>(th.data(), th.size());
      }
      if (co.kernel.type == Kernel::Type::Gaussian &&
          (co.kernel.theta.size() != co.descriptor->dimension() || !(co.kernel.theta.array() > 0).all() ||
           !co.kernel.theta.allFinite()))
        throw Error(what + ": a gaussian kernel needs one positive, finite theta per descriptor dimension");
      co.sparse = matrix_from(c.at("sparse"), what + " sparse");
      co.sparse_cutoff = matrix_from(c.at("sparse_cutoff"), what + " sparse_cutoff").transpose();
      co.alpha = matrix_from(c.at("alpha"), what + " alpha").transpose();
      if (co.sparse.cols() != co.descriptor->dimension() || co.alpha.size() != co.sparse.rows() ||
          co.sparse_cutoff.size() != co.sparse.rows())
        throw Error(what + ": inconsistent array sizes");
      p.coordinates.push_back(std::move(co));
    }
    p.L = matrix_from(payload.at("posterior").at("L"), source + ": posterior L");
    p.R = matrix_from(payload.at("posterior").at("R"), source + ": posterior R");
    p.metadata = payload.at("metadata").get<std::map<std::string, std::string>>();
    if (payload.contains("baselines")) {
      int b = 0;
      for (const auto& bj : payload.at("baselines")) p.baselines.push_back(baseline_from(bj, source + ": baseline " + std::to_string(b++)));
    }
    const long M = p.n_sparse_total();
    for (const auto* f : {&p.L, &p.R})
      if (f->size() != 0 && (f->rows() != M || f->cols() != M))
        throw Error(source + ": posterior factor has shape " + std::to_string(f->rows()) + "x" + std::to_string(f->cols()) +
                    ", expected " + std::to_string(M) + "x" + std::to_string(M));
    // both factors or neither; L lower and R upper triangular with non-zero diagonals (they are solved with)
    if ((p.L.size() == 0) != (p.R.size() == 0))
      throw Error(source + ": posterior has only one of its factors L and R");
    if (p.L.size() != 0) {
      const bool triangular = p.L.triangularView<Eigen::StrictlyUpper>().toDenseMatrix().isZero(0) &&
                              p.R.triangularView<Eigen::StrictlyLower>().toDenseMatrix().isZero(0);
      if (!triangular || (p.L.diagonal().array() == 0).any() || (p.R.diagonal().array() == 0).any())
        throw Error(source + ": posterior factors are not triangular with a non-zero diagonal (damaged file?)");
    }
    return p;
  } catch (const json::exception& e) {
    throw Error(source + ": malformed soapgap model file: " + e.what());
  }
}

void save_model(const Potential& p, const std::string& path, bool overwrite) {
  const std::string text = model_to_string(p);
  if (json_nesting_depth(text) > 32)
    throw Error(path + ": models nested as baselines too deeply to be read back (at most about 7 levels)");
  AtomicFile out(path, overwrite);
  out.stream() << text;
  out.commit();
}

Potential load_model(const std::string& path) {
  if (std::filesystem::is_directory(path)) throw Error(path + ": is a directory, not a model file");
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error(path + ": cannot open model file");
  std::stringstream ss;
  ss << in.rdbuf();
  return model_from_string(ss.str(), path);
}

}  // namespace soapgap

namespace soapgap {

Potential load_potential(const std::string& path, bool gap_only) {
  const bool xml = path.size() > 4 && path.substr(path.size() - 4) == ".xml";
  if (xml) return read_gap_xml(path, {gap_only});
  return load_model(path);
}

}  // namespace soapgap
