// The vGPU state snapshot (Vgpu::restore, vgpu_snapshot.cc): the stream a restore reads comes
// from outside (a migration peer, a file) and is untrusted. The vGPU is the echo vendor's small
// type (echo_vendor.h: a 4 KiB direct BAR, so a whole snapshot is about 8 KiB).
// Input: one mode byte, then either the raw stream (mode bit 0 clear) or, to reach deep into a
// well-formed stream, patches to a real snapshot of a programmed vGPU: (u16 position, u8 value)
// pairs, the stream cut at the position of a pair whose value is 0xff when mode bit 1 is set.
// Invariants: restore succeeds or throws xvgpu::Error (nothing else), a refused restore leaves
// the vGPU as it was, the device's identity survives a restore, save after a restore is a fixed
// point (restore(save()) then save() gives the same bytes), the restored vGPU runs, and the
// reset before the next input releases everything.
#include <cstdint>
#include <sstream>
#include <string>

#include "common/error.h"
#include "echo_vendor.h"
#include "fuzz_input.h"
#include "resettable_vgpu.h"

namespace {

using namespace xvgpu;

const Sbdf kSlot{0, 0, 6, 0};

// The echo vendor's small type, at power-on for each input (resettable_vgpu.h).
struct Device {
  fuzz::ResettableVgpu rig{"fuzz-echo/echo-small", Domid{8}, kSlot, "f0220000-0000-4000-8000-0000000005a7",
                           uint64_t{1} << 16,      true};

  gpu::Vgpu& vgpu() { return rig.vgpu(); }
  void cfg_write(unsigned off, uint8_t size, uint32_t v) {
    rig.bus().write({gpu::AddressSpace::PciConfig, off, kSlot, size, VcpuId{0}}, v);
  }
  uint64_t mmio_read(uint64_t gpa, uint8_t size) {
    return rig.bus().read({gpu::AddressSpace::Mmio, gpa, {}, size, VcpuId{0}});
  }
  void mmio_write(uint64_t gpa, uint8_t size, uint64_t v) {
    rig.bus().write({gpu::AddressSpace::Mmio, gpa, {}, size, VcpuId{0}}, v);
  }
  std::string save() {
    std::ostringstream out;
    vgpu().save(out);
    return std::move(out).str();
  }
  // false: refused with xvgpu::Error; anything else thrown is a finding.
  bool restore(const std::string& blob) {
    std::istringstream in(blob);
    try {
      vgpu().restore(in);
      return true;
    } catch (const Error&) {
      return false;
    } catch (const std::exception& e) {
      fuzz::violation(e.what());
    }
  }
};

Device& device() {
  static Device d;
  return d;
}

// A snapshot of a vGPU as firmware and a driver leave it: BARs placed, decode and bus mastering
// on, registers written. Taken once, before the first input.
const std::string& reference_snapshot() {
  static const std::string blob = [] {
    Device& d = device();
    d.rig.power_cycle();
    d.cfg_write(0x10, 4, 0xe0000000);  // BAR0 (64-bit)
    d.cfg_write(0x14, 4, 0);
    d.cfg_write(0x18, 4, 0xfebf0000);  // BAR2
    d.cfg_write(0x1c, 4, 0xc000);      // BAR3 (ports)
    d.cfg_write(0x04, 2, 0x0007);
    for (unsigned r = 0; r < 8; ++r) d.mmio_write(0xfebf0000 + r * 8, 8, 0x0101010101010101ull * (r + 1));
    d.vgpu().stop();
    return d.save();
  }();
  return blob;
}

std::string stream_from(fuzz::FuzzInput& in, uint8_t mode) {
  if ((mode & 1) == 0) {
    std::string raw(in.remaining(), '\0');
    in.fill(std::span(reinterpret_cast<std::byte*>(raw.data()), raw.size()));
    return raw;
  }
  std::string s = reference_snapshot();
  while (!in.empty()) {
    const size_t pos = in.u16() % s.size();
    const uint8_t value = in.u8();
    if ((mode & 2) != 0 && value == 0xff) {
      s.resize(pos);
      break;
    }
    s[pos] = static_cast<char>(value);
  }
  return s;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  fuzz::FuzzInput in(data, size);
  const uint8_t mode = in.u8();
  const std::string blob = stream_from(in, mode);

  Device& d = device();
  d.rig.power_cycle();
  d.vgpu().stop();  // restore takes a vGPU that is not running (an incoming migration's)
  const uint32_t identity = d.vgpu().config_read(0, 4);
  const std::string before = d.save();
  if (!d.restore(blob)) {
    if (d.save() != before) fuzz::violation("a refused restore changed the vGPU");
    return 0;
  }
  if (d.vgpu().config_read(0, 4) != identity) fuzz::violation("a restore changed the device's identity");
  const std::string once = d.save();
  if (!d.restore(once)) fuzz::violation("the vGPU's own snapshot was refused");
  if (d.save() != once) fuzz::violation("save after restore is not a fixed point");
  // The restored vGPU runs: its BARs are claimed as its config space says, accesses are served.
  d.vgpu().start();
  (void)d.mmio_read(0xfebf0000, 8);
  d.mmio_write(0xfebf0040, 4, 1);
  return 0;
}
