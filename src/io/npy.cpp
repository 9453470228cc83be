#include "soapgap/npy.hpp"

#include <filesystem>
#include <fstream>

#include "soapgap/atomic_file.hpp"
#include "soapgap/error.hpp"

namespace soapgap {

namespace {
void write(const std::string& path, const char* descr, const void* data, size_t bytes, const std::vector<size_t>& shape,
           bool overwrite) {
  AtomicFile file(path, overwrite);
  std::string sh = "(";
  for (size_t k = 0; k < shape.size(); ++k) sh += std::to_string(shape[k]) + (shape.size() == 1 || k + 1 < shape.size() ? "," : "");
  sh += ")";
  std::string header = std::string("{'descr': '") + descr + "', 'fortran_order': False, 'shape': " + sh + ", }";
  while ((10 + header.size() + 1) % 64 != 0) header += ' ';
  header += '\n';
  std::ofstream& out = file.stream();
  const unsigned short len = static_cast<unsigned short>(header.size());
  out.write("\x93NUMPY\x01\x00", 8);
  out.put(static_cast<char>(len & 0xff));
  out.put(static_cast<char>(len >> 8));
  out << header;
  out.write(static_cast<const char*>(data), static_cast<std::streamsize>(bytes));
  file.commit();
}
size_t count(const std::vector<size_t>& shape) {
  size_t n = 1;
  for (size_t s : shape) n *= s;
  return n;
}
}  // namespace

void write_npy(const std::string& path, const double* data, const std::vector<size_t>& shape, bool overwrite) {
  write(path, "<f8", data, count(shape) * 8, shape, overwrite);
}
void write_npy(const std::string& path, const long* data, const std::vector<size_t>& shape, bool overwrite) {
  write(path, "<i8", data, count(shape) * 8, shape, overwrite);
}

}  // namespace soapgap
