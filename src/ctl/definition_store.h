// Persistent vGPU definitions, one JSON file per vGPU (<dir>/<uuid>.json), like mdevctl's.
// Every change is an atomic replace (temporary file, fsync, rename, fsync of the directory), so a
// crash leaves either the old or the new definition, never a torn one.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/error.h"
#include "common/types.h"
#include "control/vgpu_spec.h"
#include "control/vm_ref.h"

namespace xvgpu::ctl {

struct Definition {
  VgpuSpec spec;
  std::optional<VmRef> vm;      // the VM it belongs to (by UUID or name), across its boots
  std::optional<Domid> domain;  // deprecated: one boot of a VM (xvgpuctl define --domain)
  bool autostart = false;       // started with every boot of its VM (xvgpuctl start --autostart)

  [[nodiscard]] nlohmann::json to_json() const;
  static Definition from_json(const nlohmann::json& j);
};

class DefinitionStore {
 public:
  explicit DefinitionStore(std::string dir) : dir_(std::move(dir)) {}

  // Throws Error when the uuid is defined already (unless replace) or the directory is unusable.
  void define(const Definition& d, bool replace = false);
  // Returns false when no such definition exists.
  bool undefine(const std::string& uuid);
  [[nodiscard]] std::optional<Definition> find(const std::string& uuid) const;
  // Sorted by uuid. A file that does not parse is reported in `problems` and skipped.
  [[nodiscard]] std::vector<Definition> list(std::vector<std::string>* problems = nullptr) const;
  [[nodiscard]] const std::string& dir() const { return dir_; }

 private:
  [[nodiscard]] std::string path_of(const std::string& uuid) const { return dir_ + "/" + uuid + ".json"; }
  std::string dir_;
};

// Writes `contents` to `path` atomically (same-directory temporary file + rename).
void atomic_write_file(const std::string& path, const std::string& contents, unsigned mode = 0644);

}  // namespace xvgpu::ctl
