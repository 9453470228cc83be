// soapgap model files: JSON, self-describing (format name and version, every hyperparameter as
// the descriptor string and kernel fields, species, e0, sparse environments, weights and the
// posterior factors). Large arrays are base64 of little-endian float64, so save/load
// round-trips bit-exactly. A checksum over the payload detects corruption and truncation.
#pragma once
#include <string>

#include "soapgap/potential.hpp"

namespace soapgap {

// Version 2 adds baselines; files without baselines are still written as version 1.
inline constexpr int kModelFormatVersion = 2;

// Deepest nesting of [ and { outside JSON strings (checked before parsing: the parser recurses).
int json_nesting_depth(const std::string& text);

// Refuses to overwrite an existing file unless overwrite is true.
void save_model(const Potential& p, const std::string& path, bool overwrite = false);
Potential load_model(const std::string& path);

// Loads a soapgap model (.json) or a QUIP/GAP XML potential (.xml, GAP part only if gap_only).
Potential load_potential(const std::string& path, bool gap_only = false);

std::string model_to_string(const Potential& p);
Potential model_from_string(const std::string& text, const std::string& source = "<string>");

}  // namespace soapgap
