// Resource limits xvgpu-dm sets on itself once set-up is done (after dropping privileges,
// before the seccomp filter, which then forbids raising them). Each is soft = hard, so the
// process cannot raise it back. docs/security.md says what each one stops.
#pragma once

#include <sys/resource.h>

#include <string>
#include <vector>

namespace xvgpu::dm {

struct ResourceLimit {
  int resource;
  const char* name;  // as in /proc/<pid>/limits
  rlim_t value;
};

// The limits for a process that has `open_fds` descriptors open now.
std::vector<ResourceLimit> serving_resource_limits(unsigned open_fds);

// Applies serving_resource_limits(); throws SystemError naming the limit that could not be set.
void apply_serving_resource_limits();

}  // namespace xvgpu::dm
