// Exceptions must not escape an OpenMP region (that calls std::terminate): loop bodies run
// through ExceptionCollector::run, and the first exception is rethrown after the loop.
#pragma once
#include <exception>
#include <mutex>

namespace soapgap {

class ExceptionCollector {
 public:
  template <class F>
  void run(F&& f) noexcept {
    if (error_) return;  // racy read is fine: only skips work after a failure
    try {
      f();
    } catch (...) {
      std::lock_guard<std::mutex> lock(mutex_);
      if (!error_) error_ = std::current_exception();
    }
  }
  void rethrow() const {
    if (error_) std::rethrow_exception(error_);
  }

 private:
  std::exception_ptr error_;
  std::mutex mutex_;
};

}  // namespace soapgap
