// Shared plumbing of xensim's Xen C API implementations: the failure-injection check every
// entry point makes, the request/reply call with errno conversion, and page mapping.
#pragma once

#include <cerrno>
#include <cstdint>
#include <span>

#include "xensim/failure_injector.h"
#include "xensim/protocol.h"
#include "xensim/transport.h"

// Follows the Xen libraries: fail with errno set and the library's error return value.
#define XENSIM_INJECT(name, ret)                                          \
  do {                                                                    \
    if (const int xensim_e_ = ::xensim::process_failures().check(name)) { \
      errno = xensim_e_;                                                  \
      return ret;                                                         \
    }                                                                     \
  } while (0)

namespace xensim {

// Runs the call; on failure sets errno and returns -1, else returns reply.rc (>= 0).
inline int call_rc(Transport& t, Op op, const Writer& w, Reply* out = nullptr) {
  Reply r = t.call(op, w);
  const int rc = r.rc;
  const int err = r.err;
  if (out != nullptr) {
    *out = std::move(r);
  }
  if (rc < 0) {
    errno = err != 0 ? err : EIO;
    return -1;
  }
  return rc;
}

// Maps memfd pages at consecutive addresses (hint: addr, flags as for mmap). Pages whose
// err is non-zero stay inaccessible. nullptr + errno on failure.
void* map_pages(int memfd, std::span<const uint64_t> pages, std::span<const int32_t> errs, int prot,
                void* addr, int flags);

}  // namespace xensim
