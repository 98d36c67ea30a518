#include "control/vgpu_plan.h"

#include <algorithm>
#include <charconv>

#include "control/rom_file.h"
#include "gpu/knob_value.h"

namespace xvgpu::dm {

namespace {

uint64_t direct_bytes_of(const gpu::TypeInfo& t) {
  uint64_t n = 0;
  for (const auto& b : t.layout.bars) {
    if (b.direct) n += b.size;
  }
  return n;
}

// The type named "type" or "vendor/type" on any physical GPU.
const gpu::TypeInfo* find_type(gpu::VgpuManager& manager, const std::string& name, uint32_t& available) {
  const auto slash = name.find('/');
  const std::string vendor = slash == std::string::npos ? "" : name.substr(0, slash);
  const std::string type = slash == std::string::npos ? name : name.substr(slash + 1);
  const gpu::TypeInfo* found = nullptr;
  available = 0;
  for (const auto& g : manager.physical_gpus()) {
    if (!vendor.empty() && g.info->vendor != vendor) continue;
    for (const auto& t : g.types) {
      if (t.type->name == type) {
        found = t.type;
        available += t.available;
      }
    }
  }
  return found;
}

// A reservation of this very vGPU exists (its VM's previous domain's device model is tearing
// down, or another VM uses the UUID): its room becomes this one's, and creating the vGPU waits for
// it or names the conflict.
bool held_under_own_uuid(gpu::VgpuManager& manager, const VgpuSpec& spec) {
  const auto records = manager.accounting().list();
  return std::any_of(records.begin(), records.end(), [&](const gpu::ReservationRecord& r) {
    return r.uuid == spec.uuid && (r.type == spec.type || spec.type.ends_with("/" + r.type));
  });
}

// The knob every display vendor offers under this name: the EDID's preferred timing, a mode the
// type can scan out. Checked here so that a definition is refused when it is written, not when
// its vGPU is created.
constexpr std::string_view kPreferredModeKnob = "preferred_mode";

void check_mode_within_type(const gpu::TypeInfo& type, const std::string& knob, const std::string& value) {
  const auto x = value.find('x');
  uint32_t w = 0;
  uint32_t h = 0;
  const auto num = [](std::string_view s, uint32_t& out) {
    const auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
    return !s.empty() && ec == std::errc{} && p == s.data() + s.size();
  };
  const std::string_view v(value);
  if (x == std::string::npos || !num(v.substr(0, x), w) || !num(v.substr(x + 1), h) || w == 0 || h == 0 ||
      w > type.max_width || h > type.max_height) {
    throw Error("knob '" + knob + "': '" + value + "' is not a mode WIDTHxHEIGHT within " +
                std::to_string(type.max_width) + "x" + std::to_string(type.max_height) +
                " (the maximum of type " + type.name + ")");
  }
}

}  // namespace

void check_guest_slot(const Sbdf& bdf) {
  if (bdf.seg != 0 || bdf.bus != 0) {
    throw Error("bdf " + bdf.to_string().substr(bdf.seg == 0 ? 5 : 0) +
                ": a vGPU must be on bus 00 (an HVM guest's firmware scans bus 0 only; there is no bridge "
                "to another bus)");
  }
}

std::string offered_types(gpu::VgpuManager& manager) {
  std::set<std::string> names;
  for (const auto& g : manager.physical_gpus()) {
    for (const auto& t : g.types) names.insert(t.type->name);
  }
  std::string out;
  for (const auto& n : names) out += (out.empty() ? "" : ", ") + n;
  return out.empty() ? "none: no vendor loaded" : out;
}

const gpu::TypeInfo& check_spec(gpu::VgpuManager& manager, const VgpuSpec& spec) {
  uint32_t available = 0;
  const gpu::TypeInfo* type = find_type(manager, spec.type, available);
  if (type == nullptr) {
    throw UnknownTypeError("unknown type '" + spec.type + "' (offered: " + offered_types(manager) + ")");
  }
  for (const auto& [name, value] : spec.knobs) {
    const gpu::KnobInfo* k = type->knob(name);
    if (k == nullptr) {
      std::string known;
      for (const auto& kk : type->knobs) {
        if (kk.at_create) known += (known.empty() ? "" : ", ") + kk.name;
      }
      throw Error("type " + type->name + " has no knob '" + name +
                  "' (creation knobs: " + (known.empty() ? "none" : known) + ")");
    }
    if (!k->at_create)
      throw Error("knob '" + name + "' of type " + type->name + " cannot be set at creation");
    (void)gpu::parse_knob_value(*k, value);  // throws naming the knob, value and what is accepted
    if (name == kPreferredModeKnob) check_mode_within_type(*type, name, value);
  }
  if (spec.bdf) check_guest_slot(*spec.bdf);
  if (spec.rom && *spec.rom != "off") (void)resolve_rom(spec.rom, *type);  // the file loads and fits
  return *type;
}

PlannedVgpu plan_vgpu(gpu::VgpuManager& manager, const VgpuSpec& spec, std::set<Sbdf>& used_slots) {
  const gpu::TypeInfo* type = &check_spec(manager, spec);
  uint32_t available = 0;
  find_type(manager, spec.type, available);
  PlannedVgpu p;
  p.config.uuid = spec.uuid;
  p.config.type = spec.type;
  p.config.params = spec.knobs;
  p.config.rom = resolve_rom(spec.rom, *type);
  if (spec.bdf) {
    if (!used_slots.insert(*spec.bdf).second)
      throw Error("PCI address " + spec.bdf->to_string() + " is taken");
    p.config.sbdf = *spec.bdf;
  } else {
    bool placed = false;
    for (uint8_t dev = 5; dev < 32 && !placed; ++dev) {
      const Sbdf s{0, 0, dev, 0};
      if (used_slots.insert(s).second) {
        p.config.sbdf = s;
        placed = true;
      }
    }
    if (!placed) throw Error("no free PCI slot on bus 0");
  }
  p.direct_bytes = direct_bytes_of(*type);
  if (available == 0 && !held_under_own_uuid(manager, spec)) {
    throw Error("no room for another " + type->name + " on this host (0 available)");
  }
  return p;
}

}  // namespace xvgpu::dm
