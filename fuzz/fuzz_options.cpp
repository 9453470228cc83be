// Fuzzes the QUIP-style option-string parsers: Options::parse (+ every typed getter and the
// str() -> parse round trip), split_top_level/strip_group, split_gap_string (fit.hpp),
// make_descriptor(text) (descriptor construction from a string) and make_analytic_baseline(text)
// (zbl, coulomb, dispersion; never table, which reads a file). A descriptor or baseline that is
// built must rebuild identically from its to_string(), and is evaluated on a fixed 3-atom cluster
// (descriptors when small, with gradients; baselines also in a small periodic cell).
#include <cctype>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "fuzz_common.hpp"
#include "soapgap/baseline.hpp"
#include "soapgap/coulomb.hpp"
#include "soapgap/descriptor.hpp"
#include "soapgap/error.hpp"
#include "soapgap/fit.hpp"
#include "soapgap/neighbours.hpp"
#include "soapgap/options.hpp"

using namespace soapgap;

namespace {

bool identifier(const std::string& s) {
  if (s.empty()) return false;
  for (unsigned char c : s)
    if (!std::isalnum(c) && c != '_') return false;
  return true;
}

bool plain_options(const Options& o) {
  if (!o.name().empty() && !identifier(o.name())) return false;
  for (const auto& [k, v] : o.items()) {
    if (!identifier(k) || v.find_first_of("{}\"'") != std::string::npos) return false;
    for (unsigned char c : v)  // str() braces values with ' ' only; parse() splits at any isspace()
      if (c < 0x20 || c > 0x7e) return false;
  }
  return true;
}

// Workaround for known findings (fuzz/README.md), on only with SOAPGAP_FUZZ_SKIP_KNOWN:
// options-soap-l_max (-overflow, -hang): Soap's members sph_/bessel_ are sized by l_max before
// the l_max check.
bool known_construction_bug(const std::string& text) {
  Options o;
  try {
    o = Options::parse(text);
  } catch (const Error&) {
    return false;
  }
  if (o.name() != "soap") return false;
  std::string v = o.get_string({"l_max"}, "0");
  for (char& c : v)
    if (c == 'd' || c == 'D') c = 'e';
  const double l_max = std::strtod(v.c_str(), nullptr);
  return !(std::abs(l_max) <= 50);
}

const Structure& cluster() {
  static const Structure s = [] {
    Structure t;
    t.positions.resize(3, 3);
    t.positions << 0.0, 0.0, 0.0, 1.1, 0.3, 0.0, -0.2, 1.3, 0.4;
    t.numbers = {29, 29, 1};
    return t;
  }();
  return s;
}

// remake(to_string()) must succeed and give the same text again. `what` names the factory.
template <class Remake>
void check_round_trip(const std::string& s1, const std::string& what, const char* kind, Remake remake) {
  std::string s2;
  try {
    s2 = remake(s1);
  } catch (const Error& e) {
    fuzz::property_failed((what + "(to_string()) fails").c_str(), s1 + "\n" + e.what());
  } catch (const std::exception& e) {
    fuzz::unexpected_exception((what + "(to_string) (round trip)").c_str(), &e);
  }
  if (s1 != s2) fuzz::property_failed((std::string(kind) + " to_string round trip not stable").c_str(), s1 + "\n" + s2);
}

void check_descriptor(const std::string& text, const char* where) {
  if (fuzz::skip_known("options-soap-l_max") && known_construction_bug(text)) return;
  std::unique_ptr<Descriptor> d;
  if (!fuzz::guarded(where, [&] { d = make_descriptor(text); })) return;
  const std::string s1 = d->to_string();
  if (fuzz::skip_known("options-soap-n_species-roundtrip") && fuzz::soap_n_species_without_species_Z(text)) return;
  check_round_trip(s1, "make_descriptor", "descriptor", [](const std::string& t) { return make_descriptor(t)->to_string(); });
  if (d->dimension() < 1) fuzz::property_failed("descriptor dimension < 1", s1);
  // Small descriptors only: the work grows with dimension (and n_max^2 l_max for SOAP).
  if (d->dimension() > 600) return;
  fuzz::guarded("Descriptor::compute", [&] {
    const NeighbourList nl = build_neighbour_list(cluster(), d->cutoff());
    const DescriptorData dd = d->compute(cluster(), nl, true);
    if (dd.size() > 0 && dd.values.cols() != d->dimension())
      fuzz::property_failed("descriptor values have the wrong width", s1);
  });
}

void check_baseline(const std::string& text) {
  Options o;
  try {
    o = Options::parse(text);
  } catch (const Error&) {
    return;
  }
  if (o.name() != "zbl" && o.name() != "coulomb" && o.name() != "dispersion") return;
  std::shared_ptr<const Baseline> b;
  if (!fuzz::guarded("make_analytic_baseline", [&] { b = make_analytic_baseline(text); })) return;
  const std::string s1 = b->to_string();
  check_round_trip(s1, "make_analytic_baseline", "baseline",
                   [](const std::string& t) { return make_analytic_baseline(t)->to_string(); });
  Structure periodic = cluster();
  periodic.cell = Eigen::Matrix3d::Identity() * 4.0;
  periodic.pbc = {true, true, true};
  // Small Ewald sums only (as small descriptors above): a wide damping, a long cutoff or a small
  // alpha are valid settings whose real-space sum over a 4 Å cell takes minutes under the
  // sanitizers; coulomb refuses only what would take hours (its own guard).
  if (const auto* c = dynamic_cast<const Coulomb*>(b.get())) {
    const EwaldParameters ep = c->ewald_parameters(periodic);
    if (ep.r_cut > 20.0 || ep.k_cut > 20.0) return;
  }
  const std::vector<const Structure*> structures = {&cluster(), &periodic};
  for (const Structure* s : structures)
    fuzz::guarded("Baseline::add", [&] {
      EnergyTerms t = EnergyTerms::zeros(s->size(), true);
      b->add(*s, t);
      if (!t.energies.allFinite() || !t.forces.allFinite() || !t.virial.allFinite())
        fuzz::property_failed("baseline gives non-finite energies, forces or virial", s1);
    });
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);

  Options o;
  if (fuzz::guarded("Options::parse", [&] { o = Options::parse(text); })) {
    for (const auto& [k, v] : o.items()) {
      const char* key = k.c_str();
      fuzz::guarded("Options::get_double", [&] { (void)o.get_double({key}, 0.0); });
      fuzz::guarded("Options::get_int", [&] { (void)o.get_int({key}, 0); });
      fuzz::guarded("Options::get_bool", [&] { (void)o.get_bool({key}, false); });
      fuzz::guarded("Options::get_doubles", [&] { (void)o.get_doubles({key}, {}); });
      (void)o.get_string({key}, "");
    }
    // str() is used to rebuild descriptor strings (expand_species): it must parse back to the same
    // options. Checked for plain option sets (identifier keys, values without braces or quotes);
    // exotic keys/values (empty keys, braces, tabs/control characters) are not expected to round-trip.
    if (plain_options(o)) {
      const std::string s = o.str();
      Options back;
      std::string err;
      try {
        back = Options::parse(s);
      } catch (const Error& e) {
        err = e.what();
      }
      if (!err.empty()) fuzz::property_failed("Options::parse(o.str()) fails", s + "\n" + err);
      if (back.name() != o.name() || back.items() != o.items())
        fuzz::property_failed("Options::parse(o.str()) differs from o", s + "\n" + back.str());
    }
  }

  fuzz::guarded("strip_group", [&] { (void)strip_group(text); });
  fuzz::guarded("split_top_level", [&] { (void)split_top_level(text, ':'); });
  std::vector<std::string> terms;
  if (fuzz::guarded("split_gap_string", [&] { terms = split_gap_string(text); })) {
    if (terms.size() > 4) terms.resize(4);
    for (const auto& t : terms) check_descriptor(t, "make_descriptor(gap term)");
  }
  if (terms.size() != 1 || terms[0] != text) check_descriptor(text, "make_descriptor");
  check_baseline(text);
  return 0;
}
