#include "soapgap/error.hpp"

namespace soapgap {

std::string where(const std::string& file, long frame, long line) {
  std::string s = file.empty() ? std::string("<input>") : file;
  if (frame >= 0) s += ", frame " + std::to_string(frame);
  if (line >= 0) s += ", line " + std::to_string(line);
  return s + ": ";
}

}  // namespace soapgap
