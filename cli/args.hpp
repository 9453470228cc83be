// Small command-line parser: `--name value`, `--name=value`, `--flag`, and gap_fit-style
// `key=value` words (kept separately so `soapgap fit` can accept a gap_fit command line).
#pragma once
#include <map>
#include <string>
#include <vector>

namespace soapgap::cli {

struct OptionSpec {
  std::string name;  // without leading dashes
  bool takes_value;
  std::string help;
  std::string def = "";
};

struct Args {
  std::map<std::string, std::string> values;       // --options (the last of a repeated one)
  std::map<std::string, std::vector<std::string>> repeated;  // every value of each --option, in order
  std::vector<std::pair<std::string, std::string>> keyvals;  // gap_fit-style key=value
  bool help = false;
  bool has(const std::string& k) const { return values.count(k) > 0; }
  std::string get(const std::string& k, const std::string& def = "") const;
  // Numeric option values; a clear error names the option when the text is not a finite number.
  double number(const std::string& k) const;
  long integer(const std::string& k) const;
};

// Throws soapgap::Error with the offending argument on unknown options or missing values.
Args parse_args(int argc, char** argv, int first, const std::vector<OptionSpec>& spec, bool allow_keyvals);
std::string usage(const std::string& command, const std::string& summary, const std::vector<OptionSpec>& spec);
void set_threads(const Args& a);

int cmd_fit(int argc, char** argv);
int cmd_eval(int argc, char** argv);
int cmd_descriptor(int argc, char** argv);
int cmd_kernel(int argc, char** argv);

}  // namespace soapgap::cli
