#include "soapgap/options.hpp"

#include <algorithm>
#include <charconv>
#include <limits>
#include <cmath>
#include <sstream>

#include "soapgap/error.hpp"

namespace soapgap {

std::string strip_group(const std::string& text) {
  size_t b = text.find_first_not_of(" \t\n"), e = text.find_last_not_of(" \t\n");
  if (b == std::string::npos) return "";
  std::string t = text.substr(b, e - b + 1);
  if (t.size() < 2) return t;
  if (t.front() == '{' && t.back() == '}') {
    // only if the opening brace closes at the very end ("{a} : {b}" is two groups, not one)
    int depth = 0;
    for (size_t i = 0; i < t.size(); ++i) {
      if (t[i] == '{') ++depth;
      if (t[i] == '}' && --depth == 0 && i + 1 != t.size()) return t;
    }
    return strip_group(t.substr(1, t.size() - 2));
  }
  if ((t.front() == '"' && t.back() == '"') || (t.front() == '\'' && t.back() == '\''))
    return strip_group(t.substr(1, t.size() - 2));
  return t;
}

std::vector<std::string> split_top_level(const std::string& text, char sep) {
  std::vector<std::string> out;
  std::string cur;
  int depth = 0;
  for (char c : text) {
    if (c == '{') ++depth;
    if (c == '}' && --depth < 0) throw Error("unbalanced braces in '" + text + "'");
    if (c == sep && depth == 0) {
      out.push_back(cur);
      cur.clear();
    } else {
      cur += c;
    }
  }
  if (depth != 0) throw Error("unbalanced braces in '" + text + "'");
  out.push_back(cur);
  return out;
}

Options Options::parse(const std::string& text, const std::string& context) {
  Options o;
  o.context_ = context.empty() ? std::string("'") + text + "'" : context;
  size_t i = 0;
  const size_t n = text.size();
  bool first = true;
  while (i < n) {
    while (i < n && std::isspace(static_cast<unsigned char>(text[i]))) ++i;
    if (i >= n) break;
    std::string key;
    while (i < n && text[i] != '=' && !std::isspace(static_cast<unsigned char>(text[i]))) key += text[i++];
    while (i < n && std::isspace(static_cast<unsigned char>(text[i]))) ++i;
    if (i < n && text[i] == '=') {
      ++i;
      while (i < n && std::isspace(static_cast<unsigned char>(text[i]))) ++i;
      std::string value;
      if (i < n && (text[i] == '{' || text[i] == '"' || text[i] == '\'')) {
        const char open = text[i];
        const char close = open == '{' ? '}' : open;
        int depth = 0;
        do {
          if (text[i] == open && (open == '{' || depth == 0)) ++depth;
          else if (text[i] == close) --depth;
          value += text[i++];
        } while (i < n && depth > 0);
        if (depth != 0) throw Error(o.context_ + ": unbalanced '" + std::string(1, open) + "' in value of " + key);
        value = strip_group(value);
      } else {
        while (i < n && !std::isspace(static_cast<unsigned char>(text[i]))) value += text[i++];
      }
      o.kv_[key] = value;
    } else if (first) {
      o.name_ = key;
    } else {
      o.kv_[key] = "T";  // bare flag
    }
    first = false;
  }
  return o;
}

bool Options::has(const std::string& key) const { return kv_.count(key) > 0; }

const std::string* Options::find(std::initializer_list<const char*> keys) const {
  for (const char* k : keys) {
    auto it = kv_.find(k);
    if (it != kv_.end()) return &it->second;
  }
  return nullptr;
}

namespace {
bool to_double(const std::string& s, double& v) {
  std::string t = s;
  for (char& c : t)
    if (c == 'd' || c == 'D') c = 'e';
  const char* b = t.data();
  if (*b == '+') ++b;
  auto r = std::from_chars(b, t.data() + t.size(), v);
  return r.ec == std::errc() && r.ptr == t.data() + t.size() && std::isfinite(v);  // no inf/nan parameters
}
}  // namespace

std::string Options::get_string(std::initializer_list<const char*> keys, const std::string& def) const {
  const std::string* v = find(keys);
  return v ? *v : def;
}

double Options::get_double(std::initializer_list<const char*> keys, double def) const {
  const std::string* v = find(keys);
  if (!v) return def;
  double d;
  if (!to_double(*v, d)) throw Error(context_ + ": '" + *keys.begin() + "' must be a number, got '" + *v + "'");
  return d;
}

double Options::require_double(std::initializer_list<const char*> keys) const {
  if (!find(keys)) throw Error(context_ + ": missing required parameter '" + *keys.begin() + "'");
  return get_double(keys, 0.0);
}

int Options::get_int(std::initializer_list<const char*> keys, int def) const {
  const double d = get_double(keys, def);
  if (d != std::trunc(d) || d < std::numeric_limits<int>::min() || d > std::numeric_limits<int>::max())
    throw Error(context_ + ": '" + *keys.begin() + "' must be an integer, got " + get_string(keys, ""));
  return static_cast<int>(d);
}

std::vector<int> Options::get_ints(std::initializer_list<const char*> keys) const {
  std::vector<int> out;
  for (double d : get_doubles(keys, {})) {
    if (d != std::trunc(d) || d < std::numeric_limits<int>::min() || d > std::numeric_limits<int>::max())
      throw Error(context_ + ": '" + *keys.begin() + "' must be a list of integers, got '" + get_string(keys, "") + "'");
    out.push_back(static_cast<int>(d));
  }
  return out;
}

void Options::check_keys(const std::vector<std::string>& known) const {
  for (const auto& [key, value] : kv_) {
    if (std::find(known.begin(), known.end(), key) != known.end()) continue;
    std::vector<std::string> sorted = known;
    std::sort(sorted.begin(), sorted.end());
    std::string list;
    for (const auto& k : sorted) list += (list.empty() ? "" : ", ") + k;
    throw Error(context_ + ": unknown key '" + key + "'" + (name_.empty() ? "" : " for " + name_) +
                " (valid keys: " + list + ")");
  }
}

bool Options::get_bool(std::initializer_list<const char*> keys, bool def) const {
  const std::string* v = find(keys);
  if (!v) return def;
  if (*v == "T" || *v == "t" || *v == "true" || *v == "True" || *v == "1") return true;
  if (*v == "F" || *v == "f" || *v == "false" || *v == "False" || *v == "0") return false;
  throw Error(context_ + ": '" + *keys.begin() + "' must be T or F, got '" + *v + "'");
}

std::vector<double> Options::get_doubles(std::initializer_list<const char*> keys, std::vector<double> def) const {
  const std::string* v = find(keys);
  if (!v) return def;
  std::istringstream is(*v);
  std::vector<double> out;
  std::string t;
  while (is >> t) {
    double d;
    if (!to_double(t, d))
      throw Error(context_ + ": '" + *keys.begin() + "' must be a list of numbers, got '" + *v + "'");
    out.push_back(d);
  }
  return out;
}

std::string Options::str() const {
  std::string s = name_;
  for (const auto& [k, v] : kv_) {
    s += " " + k + "=";
    s += v.find_first_of(" \t\n\r\f\v") == std::string::npos && !v.empty() ? v : "{" + v + "}";
  }
  return s;
}

}  // namespace soapgap
