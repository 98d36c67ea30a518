#include "dm/resource_limits.h"

#include <dirent.h>

#include <algorithm>

#include "common/error.h"

namespace xvgpu::dm {

namespace {

unsigned count_open_fds() {
  unsigned n = 0;
  if (DIR* d = ::opendir("/proc/self/fd")) {
    while (::readdir(d) != nullptr) ++n;
    ::closedir(d);
  }
  return n;  // 0 when /proc is not there (chroot): the floor below applies
}

}  // namespace

std::vector<ResourceLimit> serving_resource_limits(unsigned open_fds) {
  // Serving opens few descriptors: at most 16 control connections, a hot-added vGPU's handles
  // and reservation file, library reconnections. 1024 leaves ample room; a leak or a flood
  // stops at EMFILE in this process instead of the host's file table.
  const rlim_t files = std::max<rlim_t>(1024, rlim_t{open_fds} + 512);
  return {
      {RLIMIT_CORE, "Max core file size", 0},  // a core would hold guest memory and VRAM
      {RLIMIT_NOFILE, "Max open files", files},
      {RLIMIT_MSGQUEUE, "Max msgqueue size", 0},    // no POSIX message queues (none needed)
      {RLIMIT_RTPRIO, "Max realtime priority", 0},  // no real-time scheduling against the host
  };
}

void apply_serving_resource_limits() {
  for (const auto& l : serving_resource_limits(count_open_fds())) {
    rlimit current{};
    check_errno(::getrlimit(l.resource, &current), std::string("reading limit ") + l.name);
    const rlim_t value = std::min(l.value, current.rlim_max);  // only ever lowered
    const rlimit want{value, value};
    check_errno(::setrlimit(l.resource, &want), std::string("setting limit ") + l.name);
  }
}

}  // namespace xvgpu::dm
