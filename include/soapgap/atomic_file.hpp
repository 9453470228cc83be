// An output file that appears whole or not at all. Text goes to a temporary file beside the
// target (".<name>.part-<pid>"); commit() flushes it, fsyncs it and renames it over the target
// (rename is atomic on POSIX file systems), then fsyncs the folder. A process killed at any
// moment therefore leaves at `path` either nothing or the previous file, never a partial one;
// an exception (or no commit) removes the temporary in the destructor.
#pragma once
#include <fstream>
#include <string>

namespace soapgap {

class AtomicFile {
 public:
  // Refuses (soapgap::Error) an existing `path` unless overwrite; checked again at commit().
  AtomicFile(const std::string& path, bool overwrite);
  AtomicFile(const AtomicFile&) = delete;
  AtomicFile& operator=(const AtomicFile&) = delete;
  ~AtomicFile();

  std::ofstream& stream() { return out_; }
  const std::string& path() const { return path_; }
  void commit();

 private:
  std::string path_, tmp_;
  bool overwrite_;
  bool committed_ = false;
  std::ofstream out_;
};

}  // namespace soapgap
