#include "vendor/simgpu/simgpu_types.h"

#include <charconv>

namespace xvgpu::simgpu {

std::optional<Resolution> parse_resolution(std::string_view text, uint32_t max_width, uint32_t max_height) {
  const auto x = text.find('x');
  if (x == std::string_view::npos) return std::nullopt;
  Resolution r{};
  const auto parse = [](std::string_view s, uint32_t& out) {
    if (s.empty()) return false;
    const auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
    return ec == std::errc{} && p == s.data() + s.size();
  };
  if (!parse(text.substr(0, x), r.width) || !parse(text.substr(x + 1), r.height)) return std::nullopt;
  if (r.width == 0 || r.height == 0 || r.width > max_width || r.height > max_height) return std::nullopt;
  return r;
}

}  // namespace xvgpu::simgpu
