// Exceptions must not escape an OpenMP region (that calls std::terminate): loop bodies run
// through ExceptionCollector::run, and the first exception is rethrown after the loop.
#pragma once
#include <atomic>
#include <exception>
#include <mutex>

namespace soapgap {

class ExceptionCollector {
 public:
  template <class F>
  void run(F&& f) noexcept {
    if (failed_.load(std::memory_order_relaxed)) return;  // skip remaining work after a failure
    try {
      f();
    } catch (...) {
      std::lock_guard<std::mutex> lock(mutex_);
      if (!error_) error_ = std::current_exception();
      failed_ = true;
    }
  }
  void rethrow() const {
    if (error_) std::rethrow_exception(error_);
  }

 private:
  std::atomic<bool> failed_{false};
  std::exception_ptr error_;
  std::mutex mutex_;
};

}  // namespace soapgap
