// The C++ view of what a vendor declared through include/xvgpu/vendor.h: physical GPUs, their
// vGPU types, and the device each type presents to the guest. Built once, validated, from the
// plugin's C descriptors (vendor_descriptor.h); the rest of the core never reads the C structs.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace xvgpu::gpu {

struct BarLayout {
  unsigned index = 0;  // 0..5
  uint64_t size = 0;   // power of two
  bool io = false;
  bool is64 = false;
  bool prefetchable = false;
  bool direct = false;     // guest reaches the memory without traps (VRAM)
  uint8_t access_min = 1;  // dispatch rule: see access_split.h
  uint8_t access_max = 8;
};

struct CapabilityLayout {
  uint8_t id = 0;
  uint8_t length = 0;  // including the id/next header
  bool vendor_handled = false;
  std::vector<uint8_t> initial;   // `length` bytes
  std::vector<uint8_t> writable;  // `length` bytes
};

struct ConfigFieldLayout {
  uint16_t offset = 0;
  uint16_t length = 0;
};

// A fixed legacy I/O port range (vendor ABI 1.1), e.g. VGA 0x3c0-0x3df.
struct LegacyIoLayout {
  uint16_t first_port = 0;
  uint16_t num_ports = 0;
  uint8_t access_min = 1;
  uint8_t access_max = 4;
  bool unaligned = false;  // deliver accesses unsplit, even at odd ports
};

struct DeviceLayout {
  uint16_t vendor_id = 0;
  uint16_t device_id = 0;
  uint16_t subsystem_vendor_id = 0;
  uint16_t subsystem_id = 0;
  uint8_t revision = 0;
  uint8_t class_code = 0;
  uint8_t subclass = 0;
  uint8_t prog_if = 0;
  uint32_t msi_vectors = 0;  // 0 = no MSI capability
  uint8_t intx_pin = 0;      // 0 = none, 1 = INTA .. 4 = INTD
  std::vector<BarLayout> bars;
  std::vector<CapabilityLayout> capabilities;
  std::vector<ConfigFieldLayout> config_fields;
  std::vector<LegacyIoLayout> legacy_io;

  [[nodiscard]] const BarLayout* bar(unsigned index) const {
    for (const auto& b : bars) {
      if (b.index == index) {
        return &b;
      }
    }
    return nullptr;
  }
};

enum class KnobType : uint8_t { Bool, Int, Enum, String };

struct KnobInfo {
  std::string name;
  std::string description;
  KnobType type = KnobType::Int;
  bool at_create = false;
  bool runtime = false;
  int64_t min = 0;
  int64_t max = 0;
  int64_t default_value = 0;
  std::string default_text;
  std::vector<std::string> choices;
};

struct ResourceInfo {
  std::string name;
  uint64_t capacity = 0;
};

struct TypeInfo {
  std::string name;
  std::string description;
  uint64_t vram_bytes = 0;
  uint32_t heads = 0;
  uint32_t max_width = 0;
  uint32_t max_height = 0;
  uint32_t max_instances = 0;   // 0 = no static limit
  std::vector<uint64_t> costs;  // one per ResourceInfo of the pGPU
  DeviceLayout layout;
  std::vector<std::string> stat_names;
  std::vector<KnobInfo> knobs;

  [[nodiscard]] const KnobInfo* knob(const std::string& knob_name, uint32_t* index = nullptr) const {
    for (size_t i = 0; i < knobs.size(); ++i) {
      if (knobs[i].name == knob_name) {
        if (index != nullptr) {
          *index = static_cast<uint32_t>(i);
        }
        return &knobs[i];
      }
    }
    return nullptr;
  }
};

struct PgpuInfo {
  std::string vendor;  // the vendor's name
  std::string name;    // host-wide unique within the vendor
  std::string description;
  uint16_t vendor_id = 0;
  uint16_t device_id = 0;
  std::vector<TypeInfo> types;
  std::vector<ResourceInfo> resources;

  [[nodiscard]] const TypeInfo* type(const std::string& type_name, uint32_t* index = nullptr) const {
    for (size_t i = 0; i < types.size(); ++i) {
      if (types[i].name == type_name) {
        if (index != nullptr) {
          *index = static_cast<uint32_t>(i);
        }
        return &types[i];
      }
    }
    return nullptr;
  }
};

}  // namespace xvgpu::gpu
