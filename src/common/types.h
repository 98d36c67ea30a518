// Strong types for the identifiers that cross layer boundaries, so a gfn is never
// passed where a domid or an SBDF is expected. Hypervisor-neutral: no Xen header here.
#pragma once

#include <compare>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

namespace xvgpu {

template <typename Tag, typename Rep>
struct StrongId {
  Rep value{};
  constexpr StrongId() = default;
  constexpr explicit StrongId(Rep v) : value(v) {}
  constexpr auto operator<=>(const StrongId&) const = default;
};

struct DomidTag {};
struct GfnTag {};
struct VcpuTag {};
// A guest domain ID (Xen's domid_t is 16 bits).
using Domid = StrongId<DomidTag, uint16_t>;
// A guest frame number (guest-physical address >> 12).
using Gfn = StrongId<GfnTag, uint64_t>;
using VcpuId = StrongId<VcpuTag, uint32_t>;

inline constexpr uint64_t kPageShift = 12;
inline constexpr uint64_t kPageSize = uint64_t{1} << kPageShift;
inline constexpr Gfn gfn_of(uint64_t gpa) {
  return Gfn{gpa >> kPageShift};
}
inline constexpr uint64_t gpa_of(Gfn g) {
  return g.value << kPageShift;
}

// PCI segment/bus/device/function.
struct Sbdf {
  uint16_t seg = 0;
  uint8_t bus = 0;
  uint8_t dev = 0;  // 0..31
  uint8_t fn = 0;   // 0..7
  constexpr auto operator<=>(const Sbdf&) const = default;

  // The 16-bit bus/devfn form (bus << 8 | dev << 3 | fn).
  [[nodiscard]] constexpr uint16_t bdf() const {
    return static_cast<uint16_t>(bus << 8 | (dev & 0x1f) << 3 | (fn & 7));
  }
  [[nodiscard]] constexpr bool valid() const { return dev < 32 && fn < 8; }
  // "SSSS:BB:DD.F"
  [[nodiscard]] std::string to_string() const;
  // Accepts "BB:DD.F" or "SSSS:BB:DD.F" (hex); nullopt when malformed or out of range.
  static std::optional<Sbdf> parse(std::string_view text);
};

}  // namespace xvgpu

template <typename Tag, typename Rep>
struct std::hash<xvgpu::StrongId<Tag, Rep>> {
  size_t operator()(const xvgpu::StrongId<Tag, Rep>& id) const noexcept { return std::hash<Rep>{}(id.value); }
};
