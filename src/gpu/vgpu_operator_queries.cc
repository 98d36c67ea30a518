// What the operator asks of a vGPU: statistics, knobs and the display (surface and damage).
// Throws Error with context.
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>

#include "gpu/vendor_descriptor.h"
#include "gpu/vgpu.h"

namespace xvgpu::gpu {

std::vector<Counter> Vgpu::stats() {
  std::vector<Counter> out = {
      {"core.config_reads", counters_.config_reads},   {"core.config_writes", counters_.config_writes},
      {"core.bar_reads", counters_.bar_reads},         {"core.bar_writes", counters_.bar_writes},
      {"core.bad_accesses", counters_.bad_accesses},   {"core.vendor_errors", counters_.vendor_errors},
      {"core.msi_delivered", counters_.msi_delivered}, {"core.msi_pended", counters_.msi_pended},
      {"core.msi_dropped", counters_.msi_dropped},     {"core.dma_errors", counters_.dma_errors},
      {"core.unmapped_bars", counters_.unmapped_bars}, {"core.rom_reads", counters_.rom_reads},
  };
  std::lock_guard lock(mu_);
  const auto& ops = pgpu_.ops();
  if (has_instance(state_) && ops.read_stats != nullptr && !type_.stat_names.empty()) {
    std::vector<uint64_t> values(type_.stat_names.size());
    if (ops.read_stats(vendor_data_, values.data(), static_cast<uint32_t>(values.size())) >= 0) {
      for (size_t i = 0; i < values.size(); ++i) {
        out.push_back({type_.stat_names[i], values[i]});
      }
    }
  }
  return out;
}

std::string Vgpu::knob_get(const std::string& name) {
  std::lock_guard lock(mu_);
  uint32_t index = 0;
  const KnobInfo* knob = type_.knob(name, &index);
  if (knob == nullptr) {
    throw Error(fmt::format("vGPU {} (type {}) has no knob '{}'", uuid_, type_.name, name));
  }
  if (!has_instance(state_)) {
    throw Error(fmt::format("vGPU {} is {}: its knobs are not available", uuid_, to_string(state_)));
  }
  if (pgpu_.ops().knob_get == nullptr) {
    throw Error(fmt::format("vendor {} cannot read knobs", pgpu_.info().vendor));
  }
  KnobValue v;
  std::string text(knob_max_text(*knob) + 1, '\0');
  const int rc = pgpu_.ops().knob_get(vendor_data_, index, &v.integer, text.data(), text.size());
  if (rc < 0) {
    throw Error(fmt::format("vGPU {}: reading knob '{}' failed (error {})", uuid_, name, rc));
  }
  text.resize(::strnlen(text.data(), text.size()));
  v.text = text;
  return format_knob_value(*knob, v);
}

void Vgpu::knob_set(const std::string& name, const std::string& value) {
  std::lock_guard lock(mu_);
  uint32_t index = 0;
  const KnobInfo* knob = type_.knob(name, &index);
  if (knob == nullptr) {
    throw Error(fmt::format("vGPU {} (type {}) has no knob '{}'", uuid_, type_.name, name));
  }
  if (!knob->runtime) {
    throw Error(fmt::format("knob '{}' can only be given when the vGPU is created", name));
  }
  if (!has_instance(state_)) {
    throw Error(fmt::format("vGPU {} is {}: its knobs are not available", uuid_, to_string(state_)));
  }
  if (pgpu_.ops().knob_set == nullptr) {
    throw Error(fmt::format("vendor {} cannot set knobs", pgpu_.info().vendor));
  }
  const KnobValue v = parse_knob_value(*knob, value);
  xvgpu_knob_value kv{index, 0, v.integer, knob->type == KnobType::String ? v.text.c_str() : nullptr};
  xvgpu_error err{};
  const int rc = pgpu_.ops().knob_set(vendor_data_, &kv, &err);
  if (rc < 0) {
    const std::string msg = vendor_message(err);
    throw Error(fmt::format("vGPU {}: vendor refused {}={}: {} (error {})", uuid_, name, value,
                            msg.empty() ? std::string("no reason given") : msg, rc));
  }
}

std::optional<DisplaySurface> Vgpu::display_surface(uint32_t head) {
  std::lock_guard lock(mu_);
  return display_surface_locked(head);
}

namespace {

// Rows of the surface that the dirty pages of its BAR touch, as full-width rectangles.
void dirty_rows(const DisplaySurface& s, const std::vector<uint64_t>& pages, std::vector<Rect>& out) {
  const uint64_t first_byte = s.offset;
  const uint64_t end_byte =
      s.offset + uint64_t{s.stride} * (s.height - 1) + uint64_t{s.width} * s.bytes_per_pixel;
  const uint64_t first_page = first_byte / kPageSize;
  const uint64_t end_page = std::min<uint64_t>((end_byte + kPageSize - 1) / kPageSize, pages.size() * 64);
  auto dirty = [&](uint64_t p) { return (pages[p / 64] >> (p % 64) & 1) != 0; };
  for (uint64_t p = first_page; p < end_page;) {
    if (!dirty(p)) {
      ++p;
      continue;
    }
    uint64_t q = p;
    while (q < end_page && dirty(q)) ++q;
    // Bytes [p, q) pages of the BAR, relative to the surface's first pixel.
    const uint64_t lo = std::max(p * kPageSize, first_byte) - first_byte;
    const uint64_t hi = std::min(q * kPageSize, end_byte) - first_byte;  // exclusive
    const auto y0 = static_cast<uint32_t>(lo / s.stride);
    const auto y1 = static_cast<uint32_t>(std::min<uint64_t>((hi - 1) / s.stride, s.height - 1));
    if (!out.empty() && out.back().y + out.back().height >= y0) {
      out.back().height = std::max(out.back().height, y1 + 1 - out.back().y);
    } else {
      out.push_back({0, y0, s.width, y1 + 1 - y0});
    }
    p = q;
  }
}

std::optional<Rect> clip(const Rect& r, const DisplaySurface& s) {
  if (r.x >= s.width || r.y >= s.height || r.width == 0 || r.height == 0) return std::nullopt;
  return Rect{r.x, r.y, std::min(r.width, s.width - r.x), std::min(r.height, s.height - r.y)};
}

}  // namespace

DisplayUpdate Vgpu::display_update(uint32_t head) {
  std::lock_guard lock(mu_);
  DisplayUpdate u;
  HeadDamage vendor = display_damage_.take(head);
  u.surface_changed = vendor.surface_changed;
  u.surface = display_surface_locked(head);
  if (!u.surface) return u;
  const DisplaySurface& s = *u.surface;
  auto it = direct_.find(s.bar);
  if (it != direct_.end() && it->second.region) {
    std::vector<uint64_t> pages;
    try {
      it->second.dirty->take(*it->second.region, DirtyReader::Console, pages);
      dirty_rows(s, pages, u.damage);
    } catch (const std::exception& e) {
      XVGPU_LOG_LIMITED(vendor_log_, spdlog::level::warn, "vGPU {}: dirty tracking of BAR {}: {}", uuid_,
                        s.bar, e.what());
      u.damage.assign(1, Rect{0, 0, s.width, s.height});
    }
  } else {
    u.damage.assign(1, Rect{0, 0, s.width, s.height});  // trapped fallback: no dirty log
  }
  for (const Rect& r : vendor.rects) {
    if (auto c = clip(r, s)) u.damage.push_back(*c);
  }
  return u;
}

std::optional<DisplaySurface> Vgpu::display_surface_locked(uint32_t head) {
  if (!has_instance(state_)) {
    throw Error(fmt::format("vGPU {} is {}: no display", uuid_, to_string(state_)));
  }
  if (pgpu_.ops().display_surface == nullptr) {
    throw Error(fmt::format("vendor {} has no display query", pgpu_.info().vendor));
  }
  xvgpu_display_surface s{};
  s.struct_size = sizeof s;
  const int rc = pgpu_.ops().display_surface(vendor_data_, head, &s);
  if (rc < 0) {
    throw Error(fmt::format("vGPU {}: display query for head {} failed (error {})", uuid_, head, rc));
  }
  if (s.enabled == 0) {
    return std::nullopt;
  }
  DisplaySurface d;
  d.fourcc = s.fourcc;
  d.width = s.width;
  d.height = s.height;
  d.stride = s.stride;
  d.bar = s.bar;
  d.offset = s.offset;
  switch (s.fourcc) {
    case XVGPU_FOURCC_XRGB8888:
      d.bytes_per_pixel = 4;
      break;
    case XVGPU_FOURCC_RGB888:
      d.bytes_per_pixel = 3;
      break;
    case XVGPU_FOURCC_RGB565:
      d.bytes_per_pixel = 2;
      break;
    default:
      throw Error(fmt::format("vGPU {}: display uses unknown format {:#010x}", uuid_, s.fourcc));
  }
  auto it = direct_.find(s.bar);
  if (it == direct_.end()) {
    throw Error(fmt::format("vGPU {}: display surface in BAR {}, which is not a direct BAR", uuid_, s.bar));
  }
  const auto mem = it->second.host();
  const uint64_t line = uint64_t{s.width} * d.bytes_per_pixel;
  if (s.width == 0 || s.height == 0 || s.width > 16384 || s.height > 16384 || s.stride < line ||
      s.offset > mem.size() || uint64_t{s.stride} * (s.height - 1) + line > mem.size() - s.offset) {
    throw Error(
        fmt::format("vGPU {}: display surface {}x{} stride {} at offset {:#x} does not fit BAR {} ({} bytes)",
                    uuid_, s.width, s.height, s.stride, s.offset, s.bar, mem.size()));
  }
  const uint64_t len = std::min<uint64_t>(uint64_t{s.stride} * s.height, mem.size() - s.offset);
  d.pixels = std::span<const std::byte>(mem.data() + s.offset, len);
  return d;
}

}  // namespace xvgpu::gpu
