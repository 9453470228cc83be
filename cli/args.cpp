#include "args.hpp"

#include <omp.h>

#include <cmath>
#include <sstream>

#include "soapgap/error.hpp"

namespace soapgap::cli {

std::string Args::get(const std::string& k, const std::string& def) const {
  auto it = values.find(k);
  return it == values.end() ? def : it->second;
}

double Args::number(const std::string& k) const {
  const std::string t = get(k);
  try {
    size_t used = 0;
    const double v = std::stod(t, &used);
    if (used == t.size() && std::isfinite(v)) return v;
  } catch (const std::exception&) {
  }
  throw Error("option --" + k + ": '" + t + "' is not a number");
}

long Args::integer(const std::string& k) const {
  const double v = number(k);
  if (v != std::floor(v) || std::abs(v) > 9e15) throw Error("option --" + k + ": '" + get(k) + "' is not an integer");
  return static_cast<long>(v);
}

Args parse_args(int argc, char** argv, int first, const std::vector<OptionSpec>& spec, bool allow_keyvals) {
  Args a;
  for (int i = first; i < argc; ++i) {
    std::string w = argv[i];
    if (w == "-h" || w == "--help") {
      a.help = true;
      continue;
    }
    if (w.rfind("--", 0) == 0) {
      std::string name = w.substr(2), value;
      bool has_value = false;
      if (auto eq = name.find('='); eq != std::string::npos) {
        value = name.substr(eq + 1);
        name = name.substr(0, eq);
        has_value = true;
      }
      const OptionSpec* s = nullptr;
      for (const auto& o : spec)
        if (o.name == name) s = &o;
      if (!s) throw Error("unknown option --" + name + " (see --help)");
      if (s->takes_value && !has_value) {
        if (i + 1 >= argc) throw Error("option --" + name + " needs a value");
        value = argv[++i];
      }
      if (!s->takes_value) {
        if (has_value) throw Error("option --" + name + " takes no value");
        value = "1";
      }
      a.values[name] = value;
      a.repeated[name].push_back(value);
      continue;
    }
    if (allow_keyvals && w.find('=') != std::string::npos) {
      const auto eq = w.find('=');
      a.keyvals.emplace_back(w.substr(0, eq), w.substr(eq + 1));
      continue;
    }
    throw Error("unexpected argument '" + w + "' (see --help)");
  }
  for (const auto& o : spec)
    if (!o.def.empty() && !a.values.count(o.name)) a.values[o.name] = o.def;
  return a;
}

std::string usage(const std::string& command, const std::string& summary, const std::vector<OptionSpec>& spec) {
  std::ostringstream o;
  o << "usage: soapgap " << command << " [options]\n\n" << summary << "\n\noptions:\n";
  for (const auto& s : spec) {
    std::string left = "  --" + s.name + (s.takes_value ? " VALUE" : "");
    o << left << std::string(left.size() < 30 ? 30 - left.size() : 1, ' ') << s.help;
    if (!s.def.empty()) o << " [default: " << s.def << "]";
    o << "\n";
  }
  o << "  -h, --help                  show this help\n";
  return o.str();
}

void set_threads(const Args& a) {
  if (a.has("threads")) {
    const long n = a.integer("threads");
    if (n < 1 || n > 4096) throw Error("--threads must be between 1 and 4096");
    omp_set_num_threads(static_cast<int>(n));
  }
}

}  // namespace soapgap::cli
