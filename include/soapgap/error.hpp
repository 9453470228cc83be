// Error type used everywhere: messages name the file, frame and field at fault.
#pragma once
#include <stdexcept>
#include <string>

namespace soapgap {

class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// "file.xyz, frame 3: " style prefix; empty parts are left out.
std::string where(const std::string& file, long frame = -1, long line = -1);

// File content for an error message: control and non-ASCII bytes as \xNN, cut after `max` bytes.
std::string excerpt(const std::string& text, size_t max = 80);

}  // namespace soapgap
