// One vGPU as an operator writes it:
// "uuid=U,type=T[,bdf=BB:DD.F][,vnc=ADDR][,vnc-password-file=PATH][,rom=PATH|off][,knob=value...]".
// Used by xvgpu-dm --vgpu, xvgpuctl define/start and the control protocol's hot-add.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "common/error.h"
#include "common/types.h"

namespace xvgpu {

struct VgpuSpec {
  std::string uuid;  // canonical lower-case 8-4-4-4-12 form
  std::string type;  // a vendor type name, e.g. "simgpu-64"
  std::optional<Sbdf> bdf;
  std::optional<std::string> vnc;                // console address (console_address.h); default loopback
  std::optional<std::string> vnc_password_file;  // VNC authentication with the file's first line
  std::optional<std::string> rom;  // expansion ROM image: an absolute path or "off"; default rom_file.h
  std::vector<std::pair<std::string, std::string>> knobs;  // in the order given

  // Throws Error with a message that names the offending field.
  static VgpuSpec parse(std::string_view text);
  // Back to the command-line form (parse(to_string()) == *this).
  [[nodiscard]] std::string to_string() const;
  [[nodiscard]] nlohmann::json to_json() const;
  static VgpuSpec from_json(const nlohmann::json& j);
  bool operator==(const VgpuSpec&) const = default;
};

// Canonical form of a UUID, or nullopt when `text` is not one (8-4-4-4-12 hex digits).
std::optional<std::string> canonical_uuid(std::string_view text);

}  // namespace xvgpu
