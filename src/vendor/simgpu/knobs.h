// simgpu's knobs, each declared once, in kKnobs: its descriptor for the core (name, type,
// range, default), how a value is taken into DeviceOptions and how it reads back. The vendor ops
// (vendor_ops.cc) and the physical GPU's type descriptors (physical_gpu.cc) go through the
// table; the device reads DeviceOptions and applies run-time changes (apply_options()).
#pragma once

#include <array>
#include <cstdint>
#include <span>
#include <string>

#include "vendor/simgpu/fair_share.h"
#include "vendor/simgpu/simgpu_types.h"
#include "xvgpu/vendor.h"

namespace xvgpu::simgpu {

// Knob indices: positions in kKnobs, the type's knob table.
enum KnobIndex : uint32_t { kKnobEngineWeight = 0, kKnobPriority, kKnobPreferredMode, kKnobCount };

inline constexpr int64_t kDefaultEngineWeight = 100;
inline constexpr std::array<const char*, 2> kPriorityChoices = {"foreground", "background"};

// The knobs' values of one instance.
struct DeviceOptions {
  uint32_t engine_weight = kDefaultEngineWeight;
  EnginePriority priority = EnginePriority::Foreground;
  Resolution preferred{1024, 768};
};

// A value as the ABI carries it: integer (int, bool, enum index) or text.
struct KnobInput {
  int64_t integer = 0;
  const char* text = nullptr;
};

struct Knob {
  KnobIndex index;
  xvgpu_knob_type type;
  uint32_t flags;  // XVGPU_KNOB_AT_CREATE, XVGPU_KNOB_RUNTIME
  const char* name;
  const char* description;
  int64_t min = 0;  // int and enum: the range the table checks; string: the longest text
  int64_t max = 0;
  int64_t default_value = 0;
  std::span<const char* const> choices{};
  const char* default_text = nullptr;
  // Stores a value already inside min..max (int, enum); returns why it is refused, or "".
  std::string (*store)(const KnobInput& in, const TypeProfile& profile, DeviceOptions& o) = nullptr;
  // The value as knob_get() returns it: the integer, or load_text's text.
  int64_t (*load)(const DeviceOptions& o) = nullptr;
  std::string (*load_text)(const DeviceOptions& o) = nullptr;
  const char* fixed_why = nullptr;  // without XVGPU_KNOB_RUNTIME: why it cannot change
};

inline constexpr std::array<Knob, kKnobCount> kKnobs = {{
    {.index = kKnobEngineWeight,
     .type = XVGPU_KNOB_INT,
     .flags = XVGPU_KNOB_AT_CREATE | XVGPU_KNOB_RUNTIME,
     .name = "engine_weight",
     .description = "share of the physical engine relative to the other vGPUs on it (1..1000)",
     .min = FairShare::kMinWeight,
     .max = FairShare::kMaxWeight,
     .default_value = kDefaultEngineWeight,
     .store = [](const KnobInput& in, const TypeProfile&, DeviceOptions& o) -> std::string {
       o.engine_weight = static_cast<uint32_t>(in.integer);
       return {};
     },
     .load = [](const DeviceOptions& o) -> int64_t { return o.engine_weight; }},
    {.index = kKnobPriority,
     .type = XVGPU_KNOB_ENUM,
     .flags = XVGPU_KNOB_AT_CREATE | XVGPU_KNOB_RUNTIME,
     .name = "priority",
     .description = "foreground vGPUs use the engine before background ones",
     .min = 0,
     .max = kPriorityChoices.size() - 1,
     .default_value = 0,
     .choices = kPriorityChoices,
     .store = [](const KnobInput& in, const TypeProfile&, DeviceOptions& o) -> std::string {
       o.priority = in.integer == 0 ? EnginePriority::Foreground : EnginePriority::Background;
       return {};
     },
     .load = [](const DeviceOptions& o) -> int64_t {
       return o.priority == EnginePriority::Foreground ? 0 : 1;
     }},
    {.index = kKnobPreferredMode,
     .type = XVGPU_KNOB_STRING,
     .flags = XVGPU_KNOB_AT_CREATE,
     .name = "preferred_mode",
     .description = "the mode the EDID recommends, WIDTHxHEIGHT within the type's maximum",
     .max = 15,
     .default_text = kDefaultPreferredMode,
     .store = [](const KnobInput& in, const TypeProfile& profile, DeviceOptions& o) -> std::string {
       const std::string text = in.text != nullptr ? in.text : "";
       const auto mode = parse_resolution(text, profile.max_width, profile.max_height);
       if (!mode) {
         return "\"" + text + "\" is not WIDTHxHEIGHT within " + std::to_string(profile.max_width) + "x" +
                std::to_string(profile.max_height) + " of type " + profile.name;
       }
       o.preferred = *mode;
       return {};
     },
     .load_text =
         [](const DeviceOptions& o) {
           return std::to_string(o.preferred.width) + "x" + std::to_string(o.preferred.height);
         },
     .fixed_why = "the guest has read the EDID already"},
}};

static_assert(
    [] {
      for (size_t i = 0; i < kKnobs.size(); ++i) {
        if (kKnobs[i].index != i) return false;
      }
      return true;
    }(),
    "kKnobs is in KnobIndex order: the index is the ABI's knob number");

// The entry of knob index; nullptr for an index the table does not have.
inline const Knob* find_knob(uint32_t index) {
  return index < kKnobs.size() ? &kKnobs[index] : nullptr;
}

// Checks in against the knob (range and choices, then its own store) and stores it in o;
// returns why it is refused, or "".
inline std::string store_knob(const Knob& k, const KnobInput& in, const TypeProfile& profile,
                              DeviceOptions& o) {
  if ((k.type == XVGPU_KNOB_INT || k.type == XVGPU_KNOB_ENUM) && (in.integer < k.min || in.integer > k.max)) {
    return std::to_string(in.integer) + " is outside " + std::to_string(k.min) + ".." + std::to_string(k.max);
  }
  return k.store(in, profile, o);
}

}  // namespace xvgpu::simgpu
