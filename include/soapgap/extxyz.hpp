// Streaming extended-XYZ reader and writer, compatible with ASE's extxyz
// (Lattice, Properties, pbc, quoted strings, booleans, numeric arrays).
#pragma once
#include <fstream>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "soapgap/atomic_file.hpp"
#include "soapgap/structure.hpp"

namespace soapgap {

class ExtxyzReader {
 public:
  explicit ExtxyzReader(const std::string& path);
  // Next frame, or nullopt at end of file. Errors name the file, frame, line and field.
  std::optional<Structure> next();
  long frames_read() const { return frame_; }

 private:
  std::string path_;
  std::ifstream in_;
  long long size_ = -1;  // bytes in the file (-1: unknown), to refuse atom counts it cannot hold
  long line_ = 0;
  long frame_ = 0;
};

std::vector<Structure> read_extxyz(const std::string& path);

// Frames go to a temporary file that close() moves into place (AtomicFile): an interrupted run
// leaves no partial output; a writer destroyed without close() leaves no file at all.
class ExtxyzWriter {
 public:
  // Refuses to overwrite an existing file unless overwrite is true.
  explicit ExtxyzWriter(const std::string& path, bool overwrite = false);
  void write(const Structure& s);
  void close();

 private:
  std::string path_;
  AtomicFile file_;
};

// Shortest decimal text that reads back to the same double.
std::string format_double(double v);

}  // namespace soapgap
