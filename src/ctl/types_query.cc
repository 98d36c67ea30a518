#include "ctl/types_query.h"

#include <cstdio>
#include <filesystem>

#include "common/error.h"
#include "control/builtin_vendors.h"
#include "control/vgpu_plan.h"
#include "gpu/vgpu_manager.h"

namespace xvgpu::ctl {

namespace {

// The vendors xvgpu-dm would load with the same --vendor-plugin arguments.
void load_vendors(gpu::VgpuManager& m, const std::vector<std::string>& plugins) {
  control::register_builtin_vendors();
  m.load_builtin_vendors();
  for (const auto& p : plugins) {
    if (std::filesystem::is_directory(p)) {
      for (const auto& f : m.load_plugin_dir(p)) throw Error(f.path.string() + ": " + f.message);
    } else {
      m.load_plugin(p);
    }
  }
}

std::string fmt_id(uint16_t vendor, uint16_t device) {
  char buf[16];
  std::snprintf(buf, sizeof(buf), "%04x:%04x", vendor, device);
  return buf;
}

}  // namespace

nlohmann::json query_types(const std::vector<std::string>& vendor_plugins) {
  gpu::VgpuManager m;
  load_vendors(m, vendor_plugins);
  nlohmann::json gpus = nlohmann::json::array();
  for (const auto& g : m.physical_gpus()) {
    nlohmann::json types = nlohmann::json::array();
    for (const auto& t : g.types) {
      uint64_t direct = 0;
      for (const auto& b : t.type->layout.bars) {
        if (b.direct) direct += b.size;
      }
      nlohmann::json knobs = nlohmann::json::array();
      for (const auto& k : t.type->knobs) {
        knobs.push_back({{"name", k.name},
                         {"at_create", k.at_create},
                         {"runtime", k.runtime},
                         {"description", k.description}});
      }
      types.push_back(
          {{"name", t.type->name},
           {"description", t.type->description},
           {"available", t.available},
           {"attributes",
            {{"vram_mib", t.type->vram_bytes >> 20},
             {"heads", t.type->heads},
             {"max_resolution", std::to_string(t.type->max_width) + "x" + std::to_string(t.type->max_height)},
             {"max_instances", t.type->max_instances},
             {"direct_mib", direct >> 20}}},
           {"knobs", knobs}});
    }
    gpus.push_back({{"name", g.info->vendor + "/" + g.info->name},
                    {"vendor", g.info->vendor},
                    {"description", g.info->description},
                    {"pci_id", fmt_id(g.info->vendor_id, g.info->device_id)},
                    {"vendor_version", g.vendor_version},
                    {"source", g.source},
                    {"types", types}});
  }
  return {{"gpus", gpus}};
}

void check_spec_against_vendors(const VgpuSpec& spec, const std::vector<std::string>& vendor_plugins) {
  gpu::VgpuManager m;
  load_vendors(m, vendor_plugins);
  (void)dm::check_spec(m, spec);
}

}  // namespace xvgpu::ctl
