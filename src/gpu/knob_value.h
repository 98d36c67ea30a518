// Parsing and printing of vendor knob values (typed controls declared by the vendor).
// The core validates every value against the knob's declared type and range before the vendor
// sees it, so operators get one consistent error message for every vendor.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "gpu/vendor_model.h"

namespace xvgpu::gpu {

struct KnobValue {
  int64_t integer = 0;  // Bool (0/1), Int, Enum (choice index)
  std::string text;     // String
};

// Throws Error naming the knob, the value and what is accepted.
KnobValue parse_knob_value(const KnobInfo& knob, std::string_view text);
std::string format_knob_value(const KnobInfo& knob, const KnobValue& value);
// The declared default.
KnobValue default_knob_value(const KnobInfo& knob);
// Human-readable description of the accepted values ("integer 1..100", "one of a, b").
std::string knob_accepts(const KnobInfo& knob);
// Largest STRING value accepted.
size_t knob_max_text(const KnobInfo& knob);

}  // namespace xvgpu::gpu
