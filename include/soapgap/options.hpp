// QUIP-style "key=value" strings: `soap n_max=8 l_max=6 cutoff=5 species_Z={13 29}`.
// Values may be grouped with {...} or quotes. Keys are case-sensitive as in QUIP.
#pragma once
#include <map>
#include <set>
#include <string>
#include <vector>

namespace soapgap {

class Options {
 public:
  Options() = default;
  // `context` prefixes error messages (e.g. "gap descriptor 2").
  static Options parse(const std::string& text, const std::string& context = "");

  const std::string& name() const { return name_; }  // leading bare word, e.g. "soap"
  bool has(const std::string& key) const;
  // First of `keys` present (QUIP altkeys: atom_sigma / atom_gaussian_width ...).
  std::string get_string(std::initializer_list<const char*> keys, const std::string& def) const;
  double get_double(std::initializer_list<const char*> keys, double def) const;
  double require_double(std::initializer_list<const char*> keys) const;
  int get_int(std::initializer_list<const char*> keys, int def) const;  // refuses 6.7 and 1e20
  std::vector<int> get_ints(std::initializer_list<const char*> keys) const;  // empty if absent
  bool get_bool(std::initializer_list<const char*> keys, bool def) const;
  std::vector<double> get_doubles(std::initializer_list<const char*> keys, std::vector<double> def) const;
  // Throws naming the first key not in `known` and listing the valid ones (a typo such as
  // `zta=4` must not silently fall back to a default).
  void check_keys(const std::vector<std::string>& known) const;
  void set(const std::string& key, const std::string& value) { kv_[key] = value; }
  // Canonical text form: name followed by key=value in insertion-independent (sorted) order.
  std::string str() const;
  const std::map<std::string, std::string>& items() const { return kv_; }
  const std::string& context() const { return context_; }

 private:
  std::string name_;
  std::string context_;
  std::map<std::string, std::string> kv_;
  const std::string* find(std::initializer_list<const char*> keys) const;
};

// Split `a : b : c` at top-level colons (not inside braces), as gap_fit does for gap={...}.
std::vector<std::string> split_top_level(const std::string& text, char sep);
// Strip one level of enclosing braces/quotes and surrounding spaces.
std::string strip_group(const std::string& text);

}  // namespace soapgap
