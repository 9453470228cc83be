// Helpers shared by the soapgap fuzz targets: a private scratch directory per process, writing
// the input to a file there, and reporting a non-soapgap::Error exception as a finding.
#pragma once
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>
#include <system_error>
#include <typeinfo>

#include "soapgap/error.hpp"
#include "soapgap/options.hpp"

namespace fuzz {

// <tmp>/soapgap_fuzz_<target>_<pid>: one per process, so -jobs/-workers do not collide.
inline const std::filesystem::path& scratch_dir(const char* target) {
  static const std::filesystem::path dir = [&] {
    // /dev/shm if there is one: the writers fsync their output, which is free on tmpfs
    std::error_code ec;
    const std::filesystem::path base =
        std::filesystem::is_directory("/dev/shm", ec) ? std::filesystem::path("/dev/shm") : std::filesystem::temp_directory_path();
    std::filesystem::path d = base /
                              ("soapgap_fuzz_" + std::string(target) + "_" + std::to_string(::getpid()));
    std::filesystem::create_directories(d);
    // removed at a normal exit (a crash leaves it for inspection); the path is copied to the heap
    // so that the handler does not depend on the order of static destruction
    static const std::string* to_remove = new std::string(d.string());
    std::atexit([] {
      std::error_code e;
      std::filesystem::remove_all(*to_remove, e);
    });
    return d;
  }();
  return dir;
}

inline void write_file(const std::filesystem::path& p, std::string_view bytes) {
  std::ofstream out(p, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  if (!out) {
    std::fprintf(stderr, "fuzz harness: cannot write %s\n", p.c_str());
    std::abort();
  }
}

// Anything but soapgap::Error escaping the code under test is a finding: print it and abort so
// that libFuzzer saves the input as a crash.
[[noreturn]] inline void unexpected_exception(const char* where, const std::exception* e) {
  std::fprintf(stderr, "\n==FUZZ FINDING== %s: unexpected exception type %s: %s\n", where,
               e ? typeid(*e).name() : "(not std::exception)", e ? e->what() : "");
  std::abort();
}

[[noreturn]] inline void property_failed(const char* what, const std::string& detail) {
  std::fprintf(stderr, "\n==FUZZ FINDING== property violated: %s\n%s\n", what, detail.c_str());
  std::abort();
}

// Workarounds for known (reported) findings are off by default, so that a plain run still reports
// them until the project code is fixed. SOAPGAP_FUZZ_SKIP_KNOWN=1 (or "all") turns all of them
// on; a comma-separated list of finding names (file names in fuzz/findings/) turns on the
// workarounds whose tag is a prefix of a listed name.
inline bool skip_known(const char* finding) {
  static const std::string list = [] {
    const char* v = std::getenv("SOAPGAP_FUZZ_SKIP_KNOWN");
    return std::string(v ? v : "");
  }();
  if (list.empty() || list == "0") return false;
  if (list == "1" || list == "all") return true;
  const std::string name(finding);
  for (size_t b = 0; b <= list.size();) {
    size_t e = list.find(',', b);
    if (e == std::string::npos) e = list.size();
    // an item names a finding (a file in fuzz/findings/); a workaround tag matches its prefix
    if (e - b >= name.size() && list.compare(b, name.size(), name) == 0) return true;
    b = e + 1;
  }
  return false;
}

// Known finding options-soap-n_species-roundtrip: a soap string with n_species but no (or a zero)
// species_Z; Soap::to_string() drops n_species, so the rebuilt descriptor differs.
inline bool soap_n_species_without_species_Z(const std::string& descriptor) {
  soapgap::Options o;
  try {
    o = soapgap::Options::parse(descriptor);
  } catch (const soapgap::Error&) {
    return false;
  }
  if (o.name() != "soap" || !o.has("n_species")) return false;
  return o.get_string({"species_Z"}, "").find_first_not_of(" 0") == std::string::npos;
}

// Runs f(); returns true if it completed, false if it threw soapgap::Error (the expected
// outcome of bad input). Any other exception is a finding.
template <class F>
bool guarded(const char* where, F&& f) {
  try {
    f();
    return true;
  } catch (const soapgap::Error&) {
    return false;
  } catch (const std::exception& e) {
    unexpected_exception(where, &e);
  } catch (...) {
    unexpected_exception(where, nullptr);
  }
}

}  // namespace fuzz
