// The one error convention of xvgpu: failures are exceptions that carry context.
//
// - xvgpu::Error: a failure with a message naming what went wrong and where.
// - xvgpu::SystemError: a failed OS or Xen library call; keeps the errno so callers can
//   react to it (EOPNOTSUPP fallback, ESRCH = domain gone) and prints "what: strerror".
//
// Guest misbehaviour is NOT an error in this sense: the ioreq path answers it as Xen's
// default would and counts it; it never throws across the guest boundary.
#pragma once

#include <cerrno>
#include <stdexcept>
#include <string>
#include <system_error>

namespace xvgpu {

class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

class SystemError : public std::system_error {
 public:
  SystemError(int err, const std::string& context)
      : std::system_error(err, std::generic_category(), context), context_(context) {}
  [[nodiscard]] int err() const noexcept { return code().value(); }
  // The message without the trailing strerror text.
  [[nodiscard]] const std::string& context() const noexcept { return context_; }

 private:
  std::string context_;
};

// Throws SystemError(errno, what) when rc < 0 (or the Xen-library convention rc == -1).
inline void check_errno(long rc, const std::string& what) {
  if (rc < 0) {
    const int e = errno;
    throw SystemError(e != 0 ? e : EIO, what);
  }
}

// Prefixes the message of the exception in flight with outer context and rethrows it,
// keeping its type. Use as: catch (...) { rethrow_with_context("starting vGPU " + uuid); }
[[noreturn]] void rethrow_with_context(const std::string& context);

}  // namespace xvgpu
