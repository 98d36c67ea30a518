#include "vendor/simgpu/simgpu_device.h"

#include <algorithm>
#include <cstring>

#include "common/error.h"
#include "vendor/simgpu/state_codec.h"

namespace xvgpu::simgpu {

namespace {

// The state image. Version 1: magic, version, type, VRAM size, display and engine registers,
// end marker. Version 2 (written now) adds the image length after the version, the Bochs VBE
// index port after the display registers, the knobs (engine weight, priority) and the counters
// before the end marker, and a CRC-32 of everything before it at the very end. Version 1 images are still
// accepted (knobs and counters then stay as they are).
constexpr uint64_t kStateMagic = 0x31535550474D4953;  // "SIMGPUS1" little endian
constexpr uint32_t kStateVersion1 = 1;
constexpr uint32_t kStateVersion = 2;
constexpr uint32_t kStateEnd = 0x454e4421;
constexpr size_t kLengthOffset = 12;  // after magic and version

EdidBlock edid_for(const TypeProfile& profile, const DeviceOptions& options, uint64_t serial) {
  EdidParams p;
  p.preferred_width = options.preferred.width;
  p.preferred_height = options.preferred.height;
  p.max_width = profile.max_width;
  p.max_height = profile.max_height;
  p.serial = static_cast<uint32_t>(serial);
  return make_edid(p);
}

}  // namespace

SimgpuDevice::SimgpuDevice(PhysicalGpu& pgpu, uint32_t type_index, const HostServices& host,
                           std::span<std::byte> vram, const DeviceOptions& options)
    : type_index_(type_index),
      instance_id_(pgpu.next_instance_id()),
      slot_(pgpu.arbiter(), options.engine_weight, options.priority),
      host_(host),
      vram_(vram),
      options_(options),
      display_(vram.size(), kTypeProfiles.at(type_index).max_width, kTypeProfiles.at(type_index).max_height,
               edid_for(kTypeProfiles.at(type_index), options, instance_id_)),
      engine_(host, vram, dirty_, slot_.arbiter(), slot_.id()) {
  dirty_.set_observer([this](uint64_t offset, uint64_t length) { report_vram_write(offset, length); });
}

void SimgpuDevice::report_surface_if_changed() {
  ScanoutSurface now;
  {
    std::lock_guard lock(display_mu_);
    now = current_scanout(display_);
  }
  {
    std::lock_guard lock(shown_mu_);
    if (now == shown_) return;
    shown_ = now;
  }
  xvgpu_display_damage d{};
  d.struct_size = sizeof d;
  d.flags = XVGPU_DAMAGE_SURFACE_CHANGED;
  (void)host_.display_damage(d);
}

void SimgpuDevice::report_vram_write(uint64_t offset, uint64_t length) {
  if (offset >= vram_.size()) return;
  length = std::min<uint64_t>(length, vram_.size() - offset);
  (void)host_.direct_bar_written(kVramBar, offset, length);
  ScanoutSurface s;
  {
    std::lock_guard lock(shown_mu_);
    s = shown_;
  }
  if (!s.enabled || s.stride == 0 || s.height == 0 || length == 0) return;
  const uint64_t end = offset + length;  // the engine bounds both by the VRAM size
  const uint64_t first = s.offset;
  const uint64_t last = s.offset + uint64_t{s.stride} * s.height;
  if (end <= first || offset >= last) return;
  const uint64_t y0 = (std::max(offset, first) - first) / s.stride;
  const uint64_t y1 = (std::min(end, last) - 1 - first) / s.stride;
  const xvgpu_rect r{0, static_cast<uint32_t>(y0), s.width, static_cast<uint32_t>(y1 - y0 + 1)};
  xvgpu_display_damage d{};
  d.struct_size = sizeof d;
  d.num_rects = 1;
  d.rects = &r;
  (void)host_.display_damage(d);
}

SimgpuDevice::~SimgpuDevice() = default;

namespace {
constexpr uint32_t kVgaRegion = XVGPU_REGION_LEGACY_IO + kLegacyVga;
constexpr uint32_t kVbeRegion = XVGPU_REGION_LEGACY_IO + kLegacyVbe;
constexpr uint64_t kVgaMirror = 0x400;    // BAR2 offset of port 0x3c0
constexpr uint64_t kDispiMirror = 0x500;  // BAR2 offset of DISPI register 0
}  // namespace

bool SimgpuDevice::read(uint32_t region, uint64_t offset, uint32_t size, uint64_t& value) {
  if (region == kRegisterBar || region == kVgaRegion || region == kVbeRegion) {
    std::lock_guard lock(display_mu_);
    std::optional<uint64_t> v;
    if (region == kRegisterBar) v = display_.read(offset, size);
    if (region == kVgaRegion && offset < kVgaPorts) v = display_.read(kVgaMirror + offset, size);
    if (region == kVbeRegion) v = vbe_port_read_locked(offset, size);
    if (!v) return false;
    value = *v;
    return true;
  }
  if (region == kEngineBar && size == 4 && offset % 4 == 0 && offset <= engine::kRegLastRegister) {
    const auto v = engine_.read(static_cast<uint32_t>(offset));
    if (!v) return false;
    value = *v;
    return true;
  }
  return false;
}

bool SimgpuDevice::display_write_locked(uint64_t offset, uint32_t size, uint64_t value) {
  uint64_t clear = 0;
  const bool ok = display_.write(offset, size, value, &clear);
  // Enabling a mode without NOCLEARMEM blanks the new frame, as the stdvga does; it must
  // happen before the guest's next framebuffer write, so it is done here, synchronously.
  if (clear != 0) {
    std::memset(vram_.data(), 0, std::min<uint64_t>(clear, vram_.size()));
    dirty_.mark(0, clear);
  }
  return ok;
}

// Bochs VBE ports: a 16-bit index at 0x1ce selects the DISPI register that the 16-bit data
// port 0x1cf reads and writes (the same registers as BAR2 0x500 + 2 * index).
std::optional<uint64_t> SimgpuDevice::vbe_port_read_locked(uint64_t offset, uint32_t size) {
  if (size != 2) return std::nullopt;
  if (offset == 0) return vbe_index_;
  if (offset == 1 && vbe_index_ < dispi::kRegisterCount)
    return display_.read(kDispiMirror + uint64_t{vbe_index_} * 2, 2);
  return std::nullopt;
}

bool SimgpuDevice::vbe_port_write_locked(uint64_t offset, uint32_t size, uint64_t value) {
  if (size != 2) return false;
  if (offset == 0) {
    vbe_index_ = static_cast<uint16_t>(value);
    return true;
  }
  if (offset == 1 && vbe_index_ < dispi::kRegisterCount)
    return display_write_locked(kDispiMirror + uint64_t{vbe_index_} * 2, 2, value);
  return false;
}

bool SimgpuDevice::write(uint32_t region, uint64_t offset, uint32_t size, uint64_t value) {
  bool ok = false;
  if (region == kRegisterBar || region == kVgaRegion || region == kVbeRegion) {
    std::lock_guard lock(display_mu_);
    if (region == kRegisterBar) ok = display_write_locked(offset, size, value);
    if (region == kVgaRegion && offset < kVgaPorts)
      ok = display_write_locked(kVgaMirror + offset, size, value);
    if (region == kVbeRegion) ok = vbe_port_write_locked(offset, size, value);
  } else if (region == kEngineBar && size == 4 && offset % 4 == 0 && offset <= engine::kRegLastRegister) {
    ok = engine_.write(static_cast<uint32_t>(offset), static_cast<uint32_t>(value));
  }
  if (!ok) refused_writes_.fetch_add(1, std::memory_order_relaxed);
  if (ok && region != kEngineBar) report_surface_if_changed();
  return ok;
}

void SimgpuDevice::reset() {
  {
    std::lock_guard lock(display_mu_);
    display_.reset();
    vbe_index_ = 0;
  }
  engine_.reset();
  report_surface_if_changed();
}

void SimgpuDevice::read_stats(std::span<uint64_t> values) const {
  const auto& c = engine_.counters();
  std::array<uint64_t, kStatCount> all{};
  all[kStatFrames] = frames_.load();
  all[kStatEngineJobs] = c.jobs.load();
  all[kStatEngineBytes] = c.bytes.load();
  all[kStatInterrupts] = c.interrupts.load();
  all[kStatRejectedDescriptors] = c.rejected.load();
  all[kStatRefusedRegisterWrites] = refused_writes_.load();
  all[kStatScanoutRowsConverted] = rows_converted_.load();
  std::copy_n(all.begin(), std::min(values.size(), all.size()), values.begin());
}

void SimgpuDevice::apply_options(const DeviceOptions& options) {
  if (options.engine_weight != options_.engine_weight) set_engine_weight(options.engine_weight);
  if (options.priority != options_.priority) set_priority(options.priority);
  options_ = options;
}

void SimgpuDevice::set_engine_weight(uint32_t weight) {
  options_.engine_weight = std::clamp(weight, FairShare::kMinWeight, FairShare::kMaxWeight);
  slot_.arbiter().set_weight(slot_.id(), options_.engine_weight);
}

void SimgpuDevice::set_priority(EnginePriority priority) {
  options_.priority = priority;
  slot_.arbiter().set_priority(slot_.id(), priority);
}

ScanoutSurface SimgpuDevice::scan_out() {
  std::lock_guard lock(display_mu_);
  const ScanoutSurface s = current_scanout(display_);
  if (s.enabled) frames_.fetch_add(1, std::memory_order_relaxed);
  return s;
}

RgbFrame SimgpuDevice::screenshot_rgb() {
  std::lock_guard lock(display_mu_);
  const ScanoutSurface s = current_scanout(display_);
  check_scanout(s, vram_.size());
  frames_.fetch_add(1, std::memory_order_relaxed);
  RgbFrame frame{s.width, s.height, std::vector<uint8_t>(size_t{s.width} * s.height * 3)};
  convert_rows(s, vram_, display_, 0, s.height, frame.rgb);
  rows_converted_.fetch_add(s.height, std::memory_order_relaxed);
  return frame;
}

std::vector<uint8_t> SimgpuDevice::save() const {
  StateWriter w;
  w.u64(kStateMagic);
  w.u32(kStateVersion);
  w.u32(0);  // length, patched below
  w.u32(type_index_);
  w.u64(vram_.size());
  std::lock_guard lock(display_mu_);
  for (const uint16_t r : display_.dispi().raw()) w.u16(r);
  w.u8(display_.dispi().getcaps() ? 1 : 0);
  const VgaState& v = display_.vga().state();
  w.u8(v.misc);
  w.u8(v.attr_flip_flop ? 1 : 0);
  w.u8(v.attr_index);
  w.bytes(v.attr);
  w.u8(v.seq_index);
  w.bytes(v.seq);
  w.u8(v.gfx_index);
  w.bytes(v.gfx);
  w.u8(v.crtc_index);
  w.bytes(v.crtc);
  w.u8(v.dac_mask);
  w.u8(v.dac_read_index);
  w.u8(v.dac_write_index);
  w.u8(v.dac_component);
  w.u8(v.dac_reading ? 1 : 0);
  w.bytes(v.palette);
  w.u8(v.retrace_phase);
  w.u8(display_.big_endian() ? 1 : 0);
  w.u16(vbe_index_);
  const EngineRegisters e = engine_.registers();
  w.u8(e.enabled ? 1 : 0);
  w.u64(e.ring_base);
  w.u32(e.ring_size);
  w.u32(e.head);
  w.u32(e.tail);
  w.u32(e.fence);
  w.u32(e.status);
  w.u32(e.error_code);
  w.u32(e.error_count);
  w.u32(e.irq_status);
  w.u32(e.irq_mask);
  w.u64(e.fence_addr);
  w.u32(e.jobs_completed);
  w.u32(options_.engine_weight);
  w.u8(options_.priority == EnginePriority::Foreground ? 0 : 1);
  static_assert(kStatCount == 7, "the counters are part of the state image: a new one needs a new version");
  std::array<uint64_t, kStatCount> stats{};
  read_stats(stats);
  for (const uint64_t count : stats) w.u64(count);
  w.u32(kStateEnd);
  w.patch_u32(kLengthOffset, static_cast<uint32_t>(w.size() + 4));
  w.u32(crc32(w.data()));
  return w.data();
}

void SimgpuDevice::restore(std::span<const uint8_t> image) {
  StateReader r(image);
  if (r.u64() != kStateMagic) throw Error("not a simgpu state image (bad magic)");
  const uint32_t version = r.u32();
  if (version != kStateVersion && version != kStateVersion1) {
    throw Error("simgpu state image version " + std::to_string(version) +
                " is not supported (this simgpu reads " + std::to_string(kStateVersion1) + " and " +
                std::to_string(kStateVersion) + ")");
  }
  const bool v2 = version >= 2;
  if (v2) {
    // Whole-image checks first: nothing of a damaged image is interpreted.
    const uint32_t length = r.u32();
    if (image.size() < length) {
      throw Error("simgpu state image is truncated (" + std::to_string(image.size()) + " of " +
                  std::to_string(length) + " bytes)");
    }
    if (image.size() > length || length < kLengthOffset + 8) {
      throw Error("simgpu state image has trailing or misplaced data");
    }
    StateReader crc_reader(image.subspan(length - 4));
    if (crc32(image.first(length - 4)) != crc_reader.u32()) {
      throw Error("simgpu state image is corrupted (CRC-32 mismatch)");
    }
  }
  const uint32_t type = r.u32();
  const uint64_t vram = r.u64();
  if (type != type_index_ || vram != vram_.size()) {
    throw Error("simgpu state image was saved from a different type (" +
                std::string(type < kTypeProfiles.size() ? kTypeProfiles[type].name : "unknown") + ", " +
                std::to_string(vram / kMiB) + " MiB) than this vGPU (" + kTypeProfiles.at(type_index_).name +
                ")");
  }
  std::array<uint16_t, dispi::kRegisterCount> dispi_regs{};
  for (auto& reg : dispi_regs) reg = r.u16();
  const bool getcaps = r.boolean();
  VgaState v;
  v.misc = r.u8();
  v.attr_flip_flop = r.boolean();
  v.attr_index = r.u8();
  r.bytes(v.attr);
  v.seq_index = r.u8();
  r.bytes(v.seq);
  v.gfx_index = r.u8();
  r.bytes(v.gfx);
  v.crtc_index = r.u8();
  r.bytes(v.crtc);
  v.dac_mask = r.u8();
  v.dac_read_index = r.u8();
  v.dac_write_index = r.u8();
  v.dac_component = r.u8();
  v.dac_reading = r.boolean();
  r.bytes(v.palette);
  v.retrace_phase = r.u8();
  const bool big_endian = r.boolean();
  const uint16_t vbe_index = v2 ? r.u16() : 0;
  EngineRegisters e;
  e.enabled = r.boolean();
  e.ring_base = r.u64();
  e.ring_size = r.u32();
  e.head = r.u32();
  e.tail = r.u32();
  e.fence = r.u32();
  e.status = r.u32();
  e.error_code = r.u32();
  e.error_count = r.u32();
  e.irq_status = r.u32();
  e.irq_mask = r.u32();
  e.fence_addr = r.u64();
  e.jobs_completed = r.u32();
  uint32_t weight = options_.engine_weight;
  uint8_t priority = options_.priority == EnginePriority::Foreground ? 0 : 1;
  std::array<uint64_t, kStatCount> stats{};
  if (v2) {
    weight = r.u32();
    priority = r.u8();
    for (uint64_t& s : stats) s = r.u64();
  } else {
    read_stats(stats);
  }
  if (r.u32() != kStateEnd) throw Error("simgpu state image has trailing or misplaced data");
  if (v2) (void)r.u32();  // the CRC, checked above
  if (!r.at_end()) throw Error("simgpu state image has trailing or misplaced data");
  if (v.dac_component > 2) throw Error("simgpu state image has a malformed VGA DAC state");
  if (weight < FairShare::kMinWeight || weight > FairShare::kMaxWeight) {
    throw Error("simgpu state image has engine weight " + std::to_string(weight) + ", outside 1..1000");
  }
  if (priority > 1) throw Error("simgpu state image has an unknown priority " + std::to_string(priority));
  std::string why;
  if (!engine_.restore(e, why)) throw Error("simgpu state image: " + why);
  // Nothing below can fail: the image is applied whole.
  set_engine_weight(weight);
  set_priority(priority == 0 ? EnginePriority::Foreground : EnginePriority::Background);
  engine_.set_counters(stats[kStatEngineJobs], stats[kStatEngineBytes], stats[kStatInterrupts],
                       stats[kStatRejectedDescriptors]);
  frames_.store(stats[kStatFrames]);
  refused_writes_.store(stats[kStatRefusedRegisterWrites]);
  rows_converted_.store(stats[kStatScanoutRowsConverted]);
  {
    std::lock_guard lock(display_mu_);
    display_.dispi().restore(dispi_regs, getcaps);
    display_.vga().restore(v);
    display_.set_big_endian(big_endian);
    vbe_index_ = vbe_index;
  }
  report_surface_if_changed();
}

}  // namespace xvgpu::simgpu
