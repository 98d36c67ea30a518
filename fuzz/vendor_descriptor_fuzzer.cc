// Vendor plugin metadata: the entry struct and a physical GPU descriptor tree (types, device
// layouts, BARs, capabilities, config fields, knobs, resources) built from the input with
// hostile struct sizes, counts, NULL pointers, names and ranges. The core's import must either
// accept it with a layout that passes its own validation or refuse it with VendorAbiError;
// any other exception, a crash or an out-of-bounds read is a bug. Counts always match the
// arrays behind them (the ABI makes the vendor responsible for that) unless the array is NULL.
#include <cstdint>
#include <deque>
#include <string>
#include <vector>

#include "fuzz_input.h"
#include "gpu/vendor_descriptor.h"

namespace {

using xvgpu::fuzz::FuzzInput;

struct Pools {
  std::deque<std::string> strings;
  std::deque<std::vector<uint8_t>> bytes;
  std::deque<std::vector<uint64_t>> words;
  std::deque<std::vector<const void*>> ptrs;
  std::deque<xvgpu_bar_desc> bars;
  std::deque<xvgpu_capability_desc> caps;
  std::deque<xvgpu_config_field> fields;
  std::deque<xvgpu_device_layout> layouts;
  std::deque<xvgpu_knob_desc> knobs;
  std::deque<xvgpu_resource> resources;
  std::deque<xvgpu_type_desc> types;
};

uint32_t struct_size(FuzzInput& in, uint32_t min, uint32_t full) {
  switch (in.u8() % 8) {
    case 0:
      return min;
    case 1:
      return min + in.u8() % (full - min + 1);
    case 2:
      return in.u32();
    default:
      return full;
  }
}

const char* str(FuzzInput& in, Pools& p) {
  const uint8_t k = in.u8();
  if (k % 16 == 0) return nullptr;
  static const char* const kNames[] = {"simgpu", "a", "vram", "engine", "weight", "0000:03:00.0", "x-1.y_2"};
  if (k % 4 != 0) return kNames[(k >> 2) % std::size(kNames)];
  std::string s = in.text(40);
  p.strings.push_back(s.c_str());  // cut at an embedded NUL, as C would read it
  return p.strings.back().c_str();
}

// An array of n pointers to T (some NULL), or NULL itself.
template <typename T, typename Make>
const T* const* array(FuzzInput& in, Pools& p, uint32_t& count, unsigned max, Make make) {
  const uint8_t k = in.u8();
  count = k % (max + 1);
  if ((k & 0x80) != 0) {
    if ((k & 0x40) != 0) count = 0;
    return nullptr;
  }
  std::vector<const void*> v;
  for (uint32_t i = 0; i < count; ++i) v.push_back(in.u8() == 0xff ? nullptr : make());
  p.ptrs.push_back(std::move(v));
  return reinterpret_cast<const T* const*>(p.ptrs.back().data());
}

const xvgpu_device_layout* layout(FuzzInput& in, Pools& p) {
  if (in.u8() == 0xff) return nullptr;
  xvgpu_device_layout l{};
  l.struct_size = struct_size(in, XVGPU_DEVICE_LAYOUT_MIN_SIZE, sizeof l);
  l.vendor_id = in.u16();
  l.device_id = in.u16();
  l.class_code = in.u8();
  l.msi_vectors = in.u8() % 2 == 0 ? 1u << (in.u8() % 7) : in.u32();
  l.intx_pin = in.u8() % 6;
  l.bars = array<xvgpu_bar_desc>(in, p, l.num_bars, 7, [&] {
    xvgpu_bar_desc b{};
    b.struct_size = struct_size(in, XVGPU_BAR_DESC_MIN_SIZE, sizeof b);
    b.index = in.u8() % 8;
    b.size = in.u8() % 2 == 0 ? uint64_t{1} << (in.u8() % 64) : in.u64();
    b.flags = in.u8();
    b.access_min = in.u8() % 10;
    b.access_max = in.u8() % 10;
    p.bars.push_back(b);
    return &p.bars.back();
  });
  l.capabilities = array<xvgpu_capability_desc>(in, p, l.num_capabilities, 5, [&] {
    xvgpu_capability_desc c{};
    c.struct_size = struct_size(in, XVGPU_CAPABILITY_DESC_MIN_SIZE, sizeof c);
    c.cap_id = in.u8();
    c.length = in.u8();
    c.flags = in.u8() % 4;
    p.bytes.emplace_back(256);
    for (auto& b : p.bytes.back()) b = in.u8();
    c.initial = in.u8() == 0xff ? nullptr : p.bytes.back().data();
    p.bytes.emplace_back(256, uint8_t{0xff});
    c.writable = in.flag() ? nullptr : p.bytes.back().data();
    p.caps.push_back(c);
    return &p.caps.back();
  });
  l.config_fields = array<xvgpu_config_field>(in, p, l.num_config_fields, 4, [&] {
    xvgpu_config_field f{};
    f.struct_size = struct_size(in, XVGPU_CONFIG_FIELD_MIN_SIZE, sizeof f);
    f.offset = in.u8() % 2 == 0 ? in.u8() : in.u16();
    f.length = in.u8() % 2 == 0 ? in.u8() % 64 : in.u16();
    p.fields.push_back(f);
    return &p.fields.back();
  });
  p.layouts.push_back(l);
  return &p.layouts.back();
}

const xvgpu_knob_desc* knob(FuzzInput& in, Pools& p) {
  xvgpu_knob_desc k{};
  k.struct_size = struct_size(in, XVGPU_KNOB_DESC_MIN_SIZE, sizeof k);
  k.type = in.u8() % 5;
  k.flags = in.u8();
  k.name = str(in, p);
  k.description = str(in, p);
  k.min = static_cast<int64_t>(in.u64());
  if (in.flag()) {  // just above min, saturating (a signed overflow here would be the harness's own UB)
    const int64_t above = in.u8();
    k.max = k.min > INT64_MAX - above ? INT64_MAX : k.min + above;
  } else {
    k.max = static_cast<int64_t>(in.u64());
  }
  k.default_value = in.flag() ? k.min : static_cast<int64_t>(in.u64());
  k.default_text = str(in, p);
  k.choices = array<char>(in, p, k.num_choices, 5, [&] { return static_cast<const void*>(str(in, p)); });
  p.knobs.push_back(k);
  return &p.knobs.back();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  FuzzInput in(data, size);
  Pools p;

  // The entry struct a plugin exports.
  xvgpu_vendor v{};
  v.struct_size = struct_size(in, XVGPU_VENDOR_MIN_SIZE, sizeof v);
  v.abi_major = in.flag() ? XVGPU_VENDOR_ABI_MAJOR : in.u32();
  v.abi_minor = in.flag() ? XVGPU_VENDOR_ABI_MINOR : in.u32();
  v.name = str(in, p);
  v.version = str(in, p);
  try {
    (void)xvgpu::gpu::check_vendor_entry(&v, "fuzz");
  } catch (const xvgpu::gpu::VendorAbiError&) {
  }

  // A physical GPU descriptor tree.
  xvgpu_pgpu_desc d{};
  d.struct_size = struct_size(in, XVGPU_PGPU_DESC_MIN_SIZE, sizeof d);
  d.name = str(in, p);
  d.description = str(in, p);
  d.resources = array<xvgpu_resource>(in, p, d.num_resources, 3, [&] {
    xvgpu_resource r{};
    r.struct_size = struct_size(in, XVGPU_RESOURCE_MIN_SIZE, sizeof r);
    r.name = str(in, p);
    r.capacity = in.u64();
    p.resources.push_back(r);
    return &p.resources.back();
  });
  const uint32_t nres = d.num_resources;
  d.types = array<xvgpu_type_desc>(in, p, d.num_types, 4, [&] {
    xvgpu_type_desc t{};
    t.struct_size = struct_size(in, XVGPU_TYPE_DESC_MIN_SIZE, sizeof t);
    t.name = str(in, p);
    t.description = str(in, p);
    t.vram_bytes = in.u64();
    t.heads = in.u8();
    t.max_width = in.u16();
    t.max_height = in.u16();
    t.max_instances = in.u8();
    if (in.flag()) {
      p.words.emplace_back(nres == 0 ? 1 : nres);
      for (auto& w : p.words.back()) w = in.u64();
      t.costs = p.words.back().data();
    }
    t.layout = layout(in, p);
    t.stat_names = array<char>(in, p, t.num_stats, 4, [&] { return static_cast<const void*>(str(in, p)); });
    t.knobs = array<xvgpu_knob_desc>(in, p, t.num_knobs, 3, [&] { return knob(in, p); });
    p.types.push_back(t);
    return &p.types.back();
  });
  try {
    const auto info = xvgpu::gpu::import_pgpu(&d, "fuzz");
    for (const auto& t : info.types) xvgpu::gpu::validate_layout(t.layout);
  } catch (const xvgpu::gpu::VendorAbiError&) {
  }
  return 0;
}
