#include "ctl/types_query.h"

#include <cstdio>
#include <filesystem>

#include "common/error.h"
#include "control/builtin_vendors.h"
#include "control/vgpu_plan.h"
#include "gpu/knob_value.h"
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

// The values a knob takes, short: "1..1000", "foreground|background", "WIDTHxHEIGHT".
std::string knob_values(const gpu::KnobInfo& k, const gpu::TypeInfo& t) {
  switch (k.type) {
    case gpu::KnobType::Bool:
      return "0|1";
    case gpu::KnobType::Int:
      return std::to_string(k.min) + ".." + std::to_string(k.max);
    case gpu::KnobType::Enum: {
      std::string out;
      for (const auto& c : k.choices) out += (out.empty() ? "" : "|") + c;
      return out;
    }
    case gpu::KnobType::String:
      break;
  }
  if (k.name == "preferred_mode")
    return "WIDTHxHEIGHT<=" + std::to_string(t.max_width) + "x" + std::to_string(t.max_height);
  return "text";
}

}  // namespace

nlohmann::json query_types(const std::vector<std::string>& vendor_plugins) {
  gpu::VgpuManager m;
  load_vendors(m, vendor_plugins);
  const auto held = m.accounting().list();  // vGPUs that exist on this host now
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
                         {"accepts", gpu::knob_accepts(k)},
                         {"values", knob_values(k, *t.type)},
                         {"default", gpu::format_knob_value(k, gpu::default_knob_value(k))},
                         {"description", k.description}});
      }
      uint32_t in_use = 0;
      for (const auto& r : held) {
        if (r.vendor == g.info->vendor && r.pgpu == g.info->name && r.type == t.type->name) ++in_use;
      }
      types.push_back(
          {{"name", t.type->name},
           {"description", t.type->description},
           {"available", t.available},
           {"in_use", in_use},
           {"attributes",
            {{"vram_mib", t.type->vram_bytes >> 20},
             {"heads", t.type->heads},
             {"max_resolution", std::to_string(t.type->max_width) + "x" + std::to_string(t.type->max_height)},
             // 0: no static limit (what fits in the GPU's resources, "available")
             {"max_instances",
              t.type->max_instances == 0 ? nlohmann::json(nullptr) : nlohmann::json(t.type->max_instances)},
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
