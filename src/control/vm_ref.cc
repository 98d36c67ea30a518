#include "control/vm_ref.h"

#include <algorithm>
#include <nlohmann/json.hpp>

#include "control/vgpu_spec.h"

namespace xvgpu {

VmRef VmRef::parse(std::string_view text) {
  VmRef r;
  if (auto u = canonical_uuid(text)) {
    r.uuid = *u;
    return r;
  }
  if (text.empty()) throw Error("empty VM name (give the VM's UUID or name)");
  // xl refuses none of these, but a name with them cannot be passed through xl.cfg or a shell
  // script intact; libxl's own limit on what xenstore stores is far above 255.
  if (text.size() > 255)
    throw Error("VM name '" + std::string(text.substr(0, 32)) + "...' is over 255 bytes");
  if (std::any_of(text.begin(), text.end(),
                  [](char c) { return static_cast<unsigned char>(c) < 0x20 || c == 0x7f || c == '/'; })) {
    throw Error("VM name '" + std::string(text) + "' contains '/' or a control character");
  }
  r.name = std::string(text);
  return r;
}

nlohmann::json VmRef::to_json() const {
  nlohmann::json j = nlohmann::json::object();
  if (!uuid.empty()) j["uuid"] = uuid;
  if (!name.empty()) j["name"] = name;
  return j;
}

VmRef VmRef::from_json(const nlohmann::json& j) {
  if (!j.is_object()) throw Error("vm: not an object");
  const bool has_uuid = j.contains("uuid") && j["uuid"].is_string();
  const bool has_name = j.contains("name") && j["name"].is_string();
  if (has_uuid == has_name) throw Error("vm: needs exactly one of \"uuid\" and \"name\"");
  if (has_uuid) {
    auto u = canonical_uuid(j["uuid"].get<std::string>());
    if (!u) throw Error("vm: uuid '" + j["uuid"].get<std::string>() + "' is not a UUID");
    return VmRef{*u, ""};
  }
  VmRef r = parse(j["name"].get<std::string>());
  if (!r.uuid.empty()) return VmRef{"", j["name"].get<std::string>()};  // a name that looks like a UUID
  return r;
}

}  // namespace xvgpu
