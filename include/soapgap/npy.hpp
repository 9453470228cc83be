// Minimal NumPy .npy (format 1.0) writer for float64 and int64 arrays.
#pragma once
#include <string>
#include <vector>

namespace soapgap {

void write_npy(const std::string& path, const double* data, const std::vector<size_t>& shape, bool overwrite);
void write_npy(const std::string& path, const long* data, const std::vector<size_t>& shape, bool overwrite);

}  // namespace soapgap
