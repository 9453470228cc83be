#include "args.hpp"

#include <omp.h>

#include <sstream>

#include "soapgap/error.hpp"

namespace soapgap::cli {

std::string Args::get(const std::string& k, const std::string& def) const {
  auto it = values.find(k);
  return it == values.end() ? def : it->second;
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
    const int n = std::stoi(a.get("threads"));
    if (n < 1) throw Error("--threads must be at least 1");
    omp_set_num_threads(n);
  }
}

}  // namespace soapgap::cli
