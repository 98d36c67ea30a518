#include "gpu/knob_value.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <charconv>

#include "common/error.h"

namespace xvgpu::gpu {

size_t knob_max_text(const KnobInfo& knob) {
  return knob.max <= 0 ? 255 : static_cast<size_t>(knob.max);
}

std::string knob_accepts(const KnobInfo& knob) {
  switch (knob.type) {
    case KnobType::Bool:
      return "a boolean (true/false, on/off, 1/0)";
    case KnobType::Int:
      return fmt::format("an integer in {}..{}", knob.min, knob.max);
    case KnobType::Enum:
      return fmt::format("one of {}", fmt::join(knob.choices, ", "));
    case KnobType::String:
      return fmt::format("a text of at most {} bytes", knob_max_text(knob));
  }
  return "?";
}

KnobValue parse_knob_value(const KnobInfo& knob, std::string_view text) {
  auto bad = [&]() {
    return Error(
        fmt::format("invalid value '{}' for knob '{}': expected {}", text, knob.name, knob_accepts(knob)));
  };
  KnobValue v;
  switch (knob.type) {
    case KnobType::Bool:
      if (text == "1" || text == "true" || text == "on" || text == "yes") {
        v.integer = 1;
      } else if (text == "0" || text == "false" || text == "off" || text == "no") {
        v.integer = 0;
      } else {
        throw bad();
      }
      return v;
    case KnobType::Int: {
      int64_t n = 0;
      const char* end = text.data() + text.size();
      auto [p, ec] = std::from_chars(text.data(), end, n, 10);
      if (text.empty() || ec != std::errc{} || p != end || n < knob.min || n > knob.max) {
        throw bad();
      }
      v.integer = n;
      return v;
    }
    case KnobType::Enum:
      for (size_t i = 0; i < knob.choices.size(); ++i) {
        if (knob.choices[i] == text) {
          v.integer = static_cast<int64_t>(i);
          return v;
        }
      }
      throw bad();
    case KnobType::String:
      if (text.size() > knob_max_text(knob) || text.find('\0') != std::string_view::npos) {
        throw bad();
      }
      v.text = std::string(text);
      return v;
  }
  throw bad();
}

std::string format_knob_value(const KnobInfo& knob, const KnobValue& value) {
  switch (knob.type) {
    case KnobType::Bool:
      return value.integer != 0 ? "true" : "false";
    case KnobType::Int:
      return std::to_string(value.integer);
    case KnobType::Enum:
      if (value.integer >= 0 && static_cast<size_t>(value.integer) < knob.choices.size()) {
        return knob.choices[static_cast<size_t>(value.integer)];
      }
      return fmt::format("<invalid choice {}>", value.integer);
    case KnobType::String:
      return value.text;
  }
  return "";
}

KnobValue default_knob_value(const KnobInfo& knob) {
  KnobValue v;
  v.integer = knob.default_value;
  v.text = knob.default_text;
  return v;
}

}  // namespace xvgpu::gpu
