#include "control/builtin_vendors.h"

#include <cerrno>
#include <string>

#include "common/error.h"
#include "vendor/simgpu/simgpu_vendor.h"

namespace xvgpu::control {

void register_builtin_vendors() {
  const int rc = xvgpu_simgpu_register_builtin();
  if (rc < 0 && rc != -EEXIST) {
    throw Error("the built-in simgpu vendor cannot be registered (error " + std::to_string(-rc) + ")");
  }
}

}  // namespace xvgpu::control
