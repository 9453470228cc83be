#include "soapgap/atomic_file.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

#include "soapgap/error.hpp"

namespace soapgap {

namespace fs = std::filesystem;

namespace {
void refuse_existing(const std::string& path) {
  if (fs::exists(path)) throw Error(path + ": file exists; refusing to overwrite (use --overwrite)");
}

void fsync_path(const std::string& path, int flags) {
  const int fd = ::open(path.c_str(), flags);
  if (fd < 0) return;  // nothing to sync (e.g. a folder we cannot open): rename is still atomic
  ::fsync(fd);
  ::close(fd);
}
}  // namespace

AtomicFile::AtomicFile(const std::string& path, bool overwrite) : path_(path), overwrite_(overwrite) {
  if (!overwrite_) refuse_existing(path_);
  if (fs::is_directory(path_)) throw Error(path_ + ": is a directory");
  const fs::path p(path_);
  tmp_ = (p.parent_path() / ("." + p.filename().string() + ".part-" + std::to_string(::getpid()))).string();
  out_.open(tmp_, std::ios::binary | std::ios::trunc);
  if (!out_) throw Error(path_ + ": cannot open for writing (" + std::strerror(errno) + ")");
}

AtomicFile::~AtomicFile() {
  if (committed_) return;
  out_.close();
  std::error_code ec;
  fs::remove(tmp_, ec);
}

void AtomicFile::commit() {
  if (committed_) return;
  out_.flush();
  const bool ok = static_cast<bool>(out_);
  out_.close();
  if (!ok || out_.fail()) throw Error(path_ + ": write failed (disk full?)");
  fsync_path(tmp_, O_RDONLY);
  if (!overwrite_) refuse_existing(path_);  // appeared while we were writing
  std::error_code ec;
  fs::rename(tmp_, path_, ec);
  if (ec) throw Error(path_ + ": cannot move the finished file into place: " + ec.message());
  committed_ = true;
  const fs::path dir = fs::path(path_).parent_path();
  fsync_path(dir.empty() ? "." : dir.string(), O_RDONLY | O_DIRECTORY);
}

}  // namespace soapgap
