// The ABI checks and the import of a vendor's C descriptors into the core's model.
//
// Everything a plugin hands over is read here and nowhere else: struct sizes are checked
// against the ABI rules of include/xvgpu/vendor.h, fields beyond a plugin's struct_size read as
// absent, and every descriptor is validated (names, BAR sizes, capability placement, knob
// ranges) with an error that names the offending item.
#pragma once

#include <xvgpu/vendor.h>

#include <cstring>
#include <string>

#include "common/error.h"
#include "gpu/vendor_model.h"

namespace xvgpu::gpu {

// A plugin that cannot be used (wrong ABI, malformed descriptor, init refused).
class VendorAbiError : public Error {
 public:
  using Error::Error;
};

// Checks the entry's versions and sizes; returns a copy normalised to this build's struct.
// `source` names the plugin in messages (its path, or "built-in").
xvgpu_vendor check_vendor_entry(const xvgpu_vendor* entry, const std::string& source);

// Copies a versioned struct into a zeroed one of this build's size (missing tail = absent).
// Throws VendorAbiError when struct_size < min_size or > sizeof(T).
template <typename T>
T read_versioned(const T* in, uint32_t min_size, const char* what) {
  if (in == nullptr) {
    throw VendorAbiError(std::string(what) + " is NULL");
  }
  uint32_t declared = 0;
  std::memcpy(&declared, in, sizeof declared);
  if (declared < min_size || declared > sizeof(T)) {
    throw VendorAbiError(std::string(what) + " declares struct_size " + std::to_string(declared) +
                         ", but vendor ABI " + std::to_string(XVGPU_VENDOR_ABI_MAJOR) + "." +
                         std::to_string(XVGPU_VENDOR_ABI_MINOR) + " expects " + std::to_string(min_size) +
                         ".." + std::to_string(sizeof(T)));
  }
  T out{};
  std::memcpy(static_cast<void*>(&out), in, declared);
  return out;
}

xvgpu_device_ops import_ops(const xvgpu_device_ops* ops);
PgpuInfo import_pgpu(const xvgpu_pgpu_desc* desc, const std::string& vendor);
// Validates a layout (also used for layouts built in C++ by tests).
void validate_layout(const DeviceLayout& layout);
// The message of a vendor's error report (bounded: the vendor may not terminate it).
std::string vendor_message(const xvgpu_error& err);
// [a-z0-9_.-]+ (plus ':' and uppercase when allow_address).
bool valid_name(std::string_view name, bool allow_address = false);

}  // namespace xvgpu::gpu
