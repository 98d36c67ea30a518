// A VM as an operator names it: by its UUID (xl.cfg uuid=, Xen's domain handle, `xl list -v`)
// or by its name (xl.cfg name=). Unlike a domain ID, both stay the same across the VM's boots.
// Used by xvgpu-dm --vm, xvgpuctl define/start --vm and the definitions.
#pragma once

#include <string>
#include <string_view>

#include <nlohmann/json_fwd.hpp>

#include "common/error.h"

namespace xvgpu {

struct VmRef {
  std::string uuid;  // canonical lower-case form, or empty
  std::string name;  // or empty (exactly one of the two is set)

  // A UUID (8-4-4-4-12 hex) is taken as the VM's UUID, anything else as its name. Throws
  // Error naming the problem (empty, too long, control characters or '/').
  static VmRef parse(std::string_view text);
  [[nodiscard]] std::string to_string() const { return uuid.empty() ? name : uuid; }
  // Whether a domain with this handle (canonical text) and name is this VM.
  [[nodiscard]] bool matches(const std::string& domain_uuid, const std::string& domain_name) const {
    return uuid.empty() ? !name.empty() && name == domain_name : uuid == domain_uuid;
  }
  [[nodiscard]] nlohmann::json to_json() const;
  static VmRef from_json(const nlohmann::json& j);  // throws Error
  bool operator==(const VmRef&) const = default;
};

}  // namespace xvgpu
