// The device state of one xvgpu-dm: what `save-state` writes and `--restore-state` reads, so
// that a saved guest (xl save) gets its vGPUs back (xl restore).
//
// Layout (little-endian), format 1:
//   "XVGPUDMS"   magic
//   u32          format
//   u64          length of the records that follow (up to the checksum)
//   records:     u64 pool scratch gfn, u64 pool pages,
//                u32 region count, {u64 first page, u64 pages, u64 gfn}*   (direct memory layout)
//                u32 vGPU count, {str uuid, str type, u64 length, bytes}*  (Vgpu::save's snapshot)
//   u32          CRC-32 (zlib's) of everything before it
// Strings are u32 length + bytes. decode() checks the magic, format, length and checksum before
// it reads a record, then bounds every count and size: another format, a truncated file, trailing
// bytes, a corrupted one are refused with an Error naming the problem.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "ioreq/direct_layout.h"

namespace xvgpu::dm {

struct SavedVgpu {
  std::string uuid;
  std::string type;
  std::vector<uint8_t> snapshot;  // gpu::Vgpu::save's stream
  bool operator==(const SavedVgpu&) const = default;
};

struct DeviceState {
  ioreq::DirectLayout direct;
  std::vector<SavedVgpu> vgpus;  // in creation order
  bool operator==(const DeviceState&) const = default;
};

inline constexpr uint32_t kDeviceStateFormat = 1;

std::vector<uint8_t> encode_device_state(const DeviceState& s);
// Throws Error naming what is wrong with the bytes.
DeviceState decode_device_state(std::span<const uint8_t> bytes);

// Files: write replaces PATH (mode 0600) through a temporary beside it; read refuses a file
// over 64 GiB. Both throw Error/SystemError naming the path.
void write_device_state_file(const std::string& path, std::span<const uint8_t> bytes);
std::vector<uint8_t> read_device_state_file(const std::string& path);

}  // namespace xvgpu::dm
