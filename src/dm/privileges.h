// --chroot and --runas: applied once every privileged resource (Xen handles, sockets, log,
// plugins) is open, as QEMU's -chroot/-runas do.
#pragma once

#include <optional>
#include <string>

#include "dm/dm_options.h"

namespace xvgpu::dm {

// chroot first (needs root), then groups, gid, uid. Throws SystemError naming the step.
void drop_privileges(const std::optional<std::string>& chroot_dir, const std::optional<RunAs>& runas);

}  // namespace xvgpu::dm
