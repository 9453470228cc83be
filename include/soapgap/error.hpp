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

}  // namespace soapgap
