#include "common/types.h"

#include <fmt/format.h>
#include <charconv>

namespace xvgpu {

std::string Sbdf::to_string() const {
  return fmt::format("{:04x}:{:02x}:{:02x}.{:x}", seg, bus, dev, fn);
}

namespace {
bool parse_hex(std::string_view s, unsigned max, unsigned& out) {
  if (s.empty() || s.size() > 4) return false;
  const auto* end = s.data() + s.size();
  auto [p, ec] = std::from_chars(s.data(), end, out, 16);
  return ec == std::errc{} && p == end && out <= max;
}
}  // namespace

std::optional<Sbdf> Sbdf::parse(std::string_view text) {
  unsigned seg = 0;
  unsigned bus = 0;
  unsigned dev = 0;
  unsigned fn = 0;
  const auto dot = text.rfind('.');
  if (dot == std::string_view::npos) return std::nullopt;
  if (!parse_hex(text.substr(dot + 1), 7, fn)) return std::nullopt;
  auto head = text.substr(0, dot);
  const auto c2 = head.rfind(':');
  if (c2 == std::string_view::npos) return std::nullopt;
  if (!parse_hex(head.substr(c2 + 1), 31, dev)) return std::nullopt;
  head = head.substr(0, c2);
  const auto c1 = head.rfind(':');
  if (c1 != std::string_view::npos) {
    if (!parse_hex(head.substr(0, c1), 0xffff, seg)) return std::nullopt;
    head = head.substr(c1 + 1);
  }
  if (!parse_hex(head, 0xff, bus)) return std::nullopt;
  return Sbdf{static_cast<uint16_t>(seg), static_cast<uint8_t>(bus), static_cast<uint8_t>(dev),
              static_cast<uint8_t>(fn)};
}

}  // namespace xvgpu
