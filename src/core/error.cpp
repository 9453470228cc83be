#include "soapgap/error.hpp"

namespace soapgap {

std::string where(const std::string& file, long frame, long line) {
  std::string s = file.empty() ? std::string("<input>") : file;
  if (frame >= 0) s += ", frame " + std::to_string(frame);
  if (line >= 0) s += ", line " + std::to_string(line);
  return s + ": ";
}

std::string excerpt(const std::string& text, size_t max) {
  static const char* hex = "0123456789abcdef";
  std::string out;
  for (size_t i = 0; i < text.size() && i < max; ++i) {
    const auto c = static_cast<unsigned char>(text[i]);
    if (c >= 0x20 && c < 0x7f) {
      out += static_cast<char>(c);
    } else {
      out += "\\x";
      out += hex[c >> 4];
      out += hex[c & 15];
    }
  }
  if (text.size() > max) out += "...";
  return out;
}

}  // namespace soapgap
