// Fuzzes the soapgap model-file reader model_from_string (JSON, base64 arrays, checksum,
// descriptor strings -> make_descriptor). Each input is read as is, and a second time with its
// "checksum_fnv1a64" recomputed over "payload", so mutations get past the checksum and reach the
// payload parser. An accepted model must survive model_to_string -> model_from_string unchanged.
#include <cmath>
#include <algorithm>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "fuzz_common.hpp"
#include "soapgap/error.hpp"
#include "soapgap/model_file.hpp"

using namespace soapgap;
using nlohmann::json;

namespace {

// FNV-1a, 64 bit: the checksum the model format specifies.
std::uint64_t fnv1a64(const std::string& s) {
  std::uint64_t h = 1469598103934665603ull;
  for (unsigned char c : s) {
    h ^= c;
    h *= 1099511628211ull;
  }
  return h;
}

// Workarounds for known findings (fuzz/README.md), each on only with SOAPGAP_FUZZ_SKIP_KNOWN:
//  model_file-version-float-cast / model_file-rows-float-cast: get<int>/get<long> on a JSON float
//    out of range (UB in the conversion) for "version", "rows", "cols", "Z";
//  model_file-empty-matrix-memcpy-null: b64_decode of a 0-element matrix passes memcpy a null pointer;
//  model_file-deep-nesting-stack-overflow: payload.dump() (checksum) recurses once per nesting level.
bool known_bug(const json& doc) {
  const bool version = fuzz::skip_known("model_file-version-float-cast");
  const bool shape = fuzz::skip_known("model_file-rows-float-cast");
  const bool empty = fuzz::skip_known("model_file-empty-matrix-memcpy-null");
  const bool deep = fuzz::skip_known("model_file-deep-nesting-stack-overflow");
  if (!version && !shape && !empty && !deep) return false;
  std::vector<std::pair<const json*, int>> todo{{&doc, 0}};  // explicit stack: inputs may nest deeply
  while (!todo.empty()) {
    const auto [j, depth] = todo.back();
    todo.pop_back();
    if (deep && depth > 1000) return true;
    if (j->is_object()) {
      for (auto it = j->begin(); it != j->end(); ++it) {
        const json& v = it.value();
        const std::string& k = it.key();
        const bool cast = (version && k == "version") || (shape && (k == "rows" || k == "cols" || k == "Z"));
        if (cast && v.is_number_float() && !(std::abs(v.get<double>()) < 2e9)) return true;
        if (empty && (k == "rows" || k == "cols") && v.is_number() && v.get<double>() == 0) return true;
        if (v.is_structured()) todo.push_back({&v, depth + 1});
      }
    } else if (j->is_array()) {
      for (const auto& v : *j)
        if (v.is_structured()) todo.push_back({&v, depth + 1});
    }
  }
  return false;
}

void check(const std::string& text, const char* where) {
  Potential p;
  if (!fuzz::guarded(where, [&] { p = model_from_string(text, "<fuzz>"); })) return;
  (void)p.cutoff();
  (void)p.n_sparse_total();
  (void)p.species();
  // model_file-model_to_string-memcpy-null: model_to_string passes the null data() of an empty
  // matrix to memcpy; with SOAPGAP_FUZZ_SKIP_KNOWN=1 such models skip the round trip.
  if (fuzz::skip_known("model_file-model_to_string-memcpy-null")) {
    if (p.L.size() == 0 || p.R.size() == 0) return;
    for (const auto& c : p.coordinates)
      if (c.sparse.size() == 0 || c.alpha.size() == 0 || c.sparse_cutoff.size() == 0) return;
  }
  std::string once, twice;
  try {
    once = model_to_string(p);
  } catch (const Error& e) {
    fuzz::property_failed("model_to_string refuses a model that model_from_string accepted", e.what());
  } catch (const std::exception& e) {
    fuzz::unexpected_exception("model_to_string (round trip)", &e);
  }
  try {
    twice = model_to_string(model_from_string(once, "<round trip>"));
  } catch (const Error& e) {
    fuzz::property_failed("model_to_string output is not readable", e.what());
  } catch (const std::exception& e) {
    fuzz::unexpected_exception("model_from_string (round trip)", &e);
  }
  if (once != twice) fuzz::property_failed("model_to_string -> model_from_string -> model_to_string is not stable", "");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  // the harness's own JSON parse recurses per nesting level: deep inputs only go to the engine,
  // which refuses them before parsing
  if (json_nesting_depth(text) > 64) {
    check(text, "model_from_string");
    return 0;
  }
  json doc = json::parse(text, nullptr, /*allow_exceptions=*/false);
  const bool is_model = !doc.is_discarded() && doc.is_object() && doc.contains("payload");
  if (!doc.is_discarded() && known_bug(doc)) return 0;
  check(text, "model_from_string");
  if (is_model) {
    doc["checksum_fnv1a64"] = std::to_string(fnv1a64(doc["payload"].dump()));
    check(doc.dump(), "model_from_string(checksum fixed)");
  }
  return 0;
}
