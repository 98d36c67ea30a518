// What the server-side op handlers (serve_*.cc) share: building replies.
#pragma once

#include <fcntl.h>

#include <utility>

#include "xensim/host_impl.h"

namespace xensim {

// A success reply carrying what `w` wrote.
inline Reply ok_with(Writer& w) {
  Reply r;
  r.data = std::move(w.data());
  return r;
}

// A Xen-style return code as a reply: negative errno fails, anything else succeeds empty.
inline Reply rc_reply(int rc) {
  return rc < 0 ? Reply::error(-rc) : Reply{};
}

// A close-on-exec duplicate of `fd` to pass to the client.
inline xvgpu::UniqueFd dup_fd(int fd) {
  return xvgpu::UniqueFd(::fcntl(fd, F_DUPFD_CLOEXEC, 0));
}

}  // namespace xensim
