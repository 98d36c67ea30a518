#include "gpu/vendor_descriptor.h"

#include <fmt/format.h>

#include <bit>
#include <set>

#include "gpu/pci_config_space.h"

namespace xvgpu::gpu {

namespace {

std::string text(const char* s, const std::string& what, bool required = true) {
  if (s == nullptr) {
    if (required) {
      throw VendorAbiError(what + " is missing");
    }
    return {};
  }
  const size_t n = ::strnlen(s, 4096);
  if (n == 4096) {
    throw VendorAbiError(what + " is longer than 4095 bytes");
  }
  return std::string(s, n);
}

bool valid_access_size(unsigned s) {
  return s == 0 || s == 1 || s == 2 || s == 4 || s == 8;
}

}  // namespace

std::string vendor_message(const xvgpu_error& err) {
  return std::string(err.message, ::strnlen(err.message, sizeof err.message));
}

bool valid_name(std::string_view name, bool allow_address) {
  if (name.empty() || name.size() > 64) {
    return false;
  }
  for (char c : name) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '.' || c == '-' ||
                    (allow_address && (c == ':' || (c >= 'A' && c <= 'Z')));
    if (!ok) {
      return false;
    }
  }
  return name != "." && name != "..";
}

xvgpu_vendor check_vendor_entry(const xvgpu_vendor* entry, const std::string& source) {
  if (entry == nullptr) {
    throw VendorAbiError(source + ": " + XVGPU_VENDOR_ENTRY_SYMBOL + "() returned NULL");
  }
  // The first three fields never move: read them before trusting anything else.
  uint32_t head[3] = {};
  std::memcpy(head, entry, sizeof head);
  const uint32_t size = head[0];
  const uint32_t major = head[1];
  const uint32_t minor = head[2];
  if (size < sizeof head) {
    throw VendorAbiError(
        fmt::format("{}: struct xvgpu_vendor declares struct_size {}, too small to be valid", source, size));
  }
  if (major != XVGPU_VENDOR_ABI_MAJOR) {
    throw VendorAbiError(
        fmt::format("{}: plugin was built for xvgpu vendor ABI {}.{}, but this xvgpu provides ABI {}.{}; "
                    "major versions are "
                    "incompatible: rebuild the plugin against this xvgpu's include/xvgpu/vendor.h",
                    source, major, minor, XVGPU_VENDOR_ABI_MAJOR, XVGPU_VENDOR_ABI_MINOR));
  }
  if (minor > XVGPU_VENDOR_ABI_MINOR) {
    throw VendorAbiError(fmt::format(
        "{}: plugin was built for xvgpu vendor ABI {}.{}, newer than this xvgpu's ABI {}.{}; it may need "
        "services this xvgpu lacks: upgrade xvgpu or rebuild the plugin against this xvgpu's header",
        source, major, minor, XVGPU_VENDOR_ABI_MAJOR, XVGPU_VENDOR_ABI_MINOR));
  }
  xvgpu_vendor v{};
  try {
    v = read_versioned(entry, XVGPU_VENDOR_MIN_SIZE, "struct xvgpu_vendor");
  } catch (const VendorAbiError& e) {
    throw VendorAbiError(source + ": " + e.what());
  }
  const std::string name = text(v.name, source + ": vendor name");
  if (!valid_name(name)) {
    throw VendorAbiError(fmt::format("{}: invalid vendor name '{}' (want [a-z0-9_.-]+)", source, name));
  }
  if (v.init == nullptr) {
    throw VendorAbiError(fmt::format("{}: vendor '{}' has no init()", source, name));
  }
  return v;
}

xvgpu_device_ops import_ops(const xvgpu_device_ops* ops) {
  xvgpu_device_ops o = read_versioned(ops, XVGPU_DEVICE_OPS_MIN_SIZE, "struct xvgpu_device_ops");
  const char* missing = nullptr;
  if (o.available_instances == nullptr) {
    missing = "available_instances";
  }
  if (o.create == nullptr) {
    missing = "create";
  }
  if (o.destroy == nullptr) {
    missing = "destroy";
  }
  if (o.start == nullptr) {
    missing = "start";
  }
  if (o.shutdown == nullptr) {
    missing = "shutdown";
  }
  if (o.reset == nullptr) {
    missing = "reset";
  }
  if (o.read == nullptr) {
    missing = "read";
  }
  if (o.write == nullptr) {
    missing = "write";
  }
  if (missing != nullptr) {
    throw VendorAbiError(std::string("mandatory callback ") + missing + "() is NULL");
  }
  return o;
}

void validate_layout(const DeviceLayout& l) {
  std::array<bool, 6> used{};
  for (const auto& b : l.bars) {
    const std::string what = fmt::format("BAR {}", b.index);
    if (b.index > 5) {
      throw VendorAbiError(what + ": index must be 0..5");
    }
    if (b.size == 0 || !std::has_single_bit(b.size)) {
      throw VendorAbiError(what + ": size must be a power of two");
    }
    if (b.io) {
      if (b.is64 || b.prefetchable || b.direct) {
        throw VendorAbiError(what + ": an I/O BAR cannot be 64-bit, prefetchable or direct");
      }
      if (b.size < 4 || b.size > 256) {
        throw VendorAbiError(what + ": I/O BAR size must be 4..256 bytes");
      }
      if (b.access_max > 4) {
        throw VendorAbiError(what + ": I/O accesses are at most 4 bytes");
      }
    } else {
      if (b.size < 16) {
        throw VendorAbiError(what + ": memory BAR size must be at least 16 bytes");
      }
      if (b.direct && b.size < 4096) {
        throw VendorAbiError(what + ": a direct BAR must be at least one 4 KiB page");
      }
      if (!b.is64 && b.size > (uint64_t{1} << 31)) {
        throw VendorAbiError(what + ": a 32-bit BAR is at most 2 GiB");
      }
      if (b.is64 && b.index == 5) {
        throw VendorAbiError(what + ": a 64-bit BAR needs the next slot too");
      }
    }
    if (!valid_access_size(b.access_min) || !valid_access_size(b.access_max) ||
        (b.access_min != 0 && b.access_max != 0 && b.access_min > b.access_max)) {
      throw VendorAbiError(what + ": access_min/access_max must be 1, 2, 4 or 8 with min <= max");
    }
    for (unsigned slot = b.index; slot <= b.index + (b.is64 ? 1u : 0u); ++slot) {
      if (used[slot]) {
        throw VendorAbiError(fmt::format("{}: slot {} is already used by another BAR", what, slot));
      }
      used[slot] = true;
    }
  }
  if (l.msi_vectors > 32 || (l.msi_vectors != 0 && !std::has_single_bit(l.msi_vectors))) {
    throw VendorAbiError(fmt::format("msi_vectors {} must be 0, 1, 2, 4, 8, 16 or 32", l.msi_vectors));
  }
  if (l.intx_pin > 4) {
    throw VendorAbiError(fmt::format("intx_pin {} must be 0 (none) .. 4 (INTD)", l.intx_pin));
  }
  for (size_t i = 0; i < l.capabilities.size(); ++i) {
    const auto& c = l.capabilities[i];
    if (c.length < 4 || c.length > 64) {
      throw VendorAbiError(fmt::format("capability {}: length {} must be 4..64", i, c.length));
    }
    if (c.id == pci::kCapIdMsi) {
      throw VendorAbiError(fmt::format("capability {}: MSI is provided by the core (set msi_vectors)", i));
    }
    if (c.initial.size() != c.length || (!c.writable.empty() && c.writable.size() != c.length)) {
      throw VendorAbiError(fmt::format("capability {}: initial/writable must have {} bytes", i, c.length));
    }
  }
  std::array<bool, pci::kConfigSize> field_used{};
  for (const auto& f : l.config_fields) {
    if (f.length == 0 || f.offset < pci::kHeaderEnd || f.offset + f.length > pci::kConfigSize) {
      throw VendorAbiError(
          fmt::format("config field [{:#x}, +{}) must lie within 0x40..0xff", f.offset, f.length));
    }
    for (unsigned j = f.offset; j < f.offset + f.length; ++j) {
      if (field_used[j]) {
        throw VendorAbiError(fmt::format("config field at {:#x} overlaps another field", f.offset));
      }
      field_used[j] = true;
    }
  }
  if (l.legacy_io.size() > 8) {
    throw VendorAbiError("at most 8 legacy I/O ranges");
  }
  std::vector<bool> port_used(0x10000);
  for (const auto& r : l.legacy_io) {
    const std::string what = fmt::format("legacy I/O range {:#x}+{}", r.first_port, r.num_ports);
    if (r.num_ports == 0 || r.num_ports > 256 || uint32_t{r.first_port} + r.num_ports > 0x10000) {
      throw VendorAbiError(what + ": 1..256 ports below 0x10000");
    }
    const auto ok = [](unsigned s) { return s == 1 || s == 2 || s == 4; };
    if (!ok(r.access_min) || !ok(r.access_max) || r.access_min > r.access_max) {
      throw VendorAbiError(what + ": access_min/access_max must be 1, 2 or 4 with min <= max");
    }
    for (uint32_t p = r.first_port; p < uint32_t{r.first_port} + r.num_ports; ++p) {
      if (port_used[p]) {
        throw VendorAbiError(what + ": overlaps another legacy range");
      }
      port_used[p] = true;
    }
  }
  try {
    (void)place_capabilities(l);
  } catch (const Error& e) {
    throw VendorAbiError(e.what());
  }
}

namespace {

DeviceLayout import_layout(const xvgpu_device_layout* in) {
  const auto l = read_versioned(in, XVGPU_DEVICE_LAYOUT_MIN_SIZE, "struct xvgpu_device_layout");
  DeviceLayout out;
  out.vendor_id = l.vendor_id;
  out.device_id = l.device_id;
  out.subsystem_vendor_id = l.subsystem_vendor_id;
  out.subsystem_id = l.subsystem_id;
  out.revision = l.revision;
  out.class_code = l.class_code;
  out.subclass = l.subclass;
  out.prog_if = l.prog_if;
  out.msi_vectors = l.msi_vectors;
  out.intx_pin = l.intx_pin;
  if (l.num_bars > 6 || (l.num_bars != 0 && l.bars == nullptr)) {
    throw VendorAbiError("num_bars must be 0..6 with a bars array");
  }
  for (uint32_t i = 0; i < l.num_bars; ++i) {
    const auto b = read_versioned(l.bars[i], XVGPU_BAR_DESC_MIN_SIZE, "struct xvgpu_bar_desc");
    BarLayout bl;
    bl.index = b.index;
    bl.size = b.size;
    bl.io = (b.flags & XVGPU_BAR_IO) != 0;
    bl.is64 = (b.flags & XVGPU_BAR_64BIT) != 0;
    bl.prefetchable = (b.flags & XVGPU_BAR_PREFETCHABLE) != 0;
    bl.direct = (b.flags & XVGPU_BAR_DIRECT) != 0;
    if ((b.flags & ~0xfu) != 0) {
      throw VendorAbiError(fmt::format("BAR {}: unknown flags {:#x}", b.index, b.flags));
    }
    if (!valid_access_size(b.access_min) || !valid_access_size(b.access_max)) {
      throw VendorAbiError(fmt::format("BAR {}: access_min/access_max must be 0, 1, 2, 4 or 8", b.index));
    }
    bl.access_min = b.access_min == 0 ? 1 : b.access_min;
    bl.access_max = b.access_max == 0 ? (bl.io ? 4 : 8) : b.access_max;
    out.bars.push_back(bl);
  }
  if (l.num_capabilities > 16 || (l.num_capabilities != 0 && l.capabilities == nullptr)) {
    throw VendorAbiError("num_capabilities must be 0..16 with a capabilities array");
  }
  for (uint32_t i = 0; i < l.num_capabilities; ++i) {
    const auto c =
        read_versioned(l.capabilities[i], XVGPU_CAPABILITY_DESC_MIN_SIZE, "struct xvgpu_capability_desc");
    CapabilityLayout cl;
    cl.id = c.cap_id;
    cl.length = c.length;
    cl.vendor_handled = (c.flags & XVGPU_CAP_VENDOR_HANDLED) != 0;
    if (c.length < 4 || c.length > 64) {
      throw VendorAbiError(fmt::format("capability {}: length {} must be 4..64", i, c.length));
    }
    if (c.initial == nullptr) {
      throw VendorAbiError(fmt::format("capability {}: initial contents missing", i));
    }
    cl.initial.assign(c.initial, c.initial + c.length);
    if (c.writable != nullptr) {
      cl.writable.assign(c.writable, c.writable + c.length);
    }
    out.capabilities.push_back(std::move(cl));
  }
  if (l.num_config_fields > 64 || (l.num_config_fields != 0 && l.config_fields == nullptr)) {
    throw VendorAbiError("num_config_fields must be 0..64 with a config_fields array");
  }
  for (uint32_t i = 0; i < l.num_config_fields; ++i) {
    const auto f =
        read_versioned(l.config_fields[i], XVGPU_CONFIG_FIELD_MIN_SIZE, "struct xvgpu_config_field");
    out.config_fields.push_back(ConfigFieldLayout{f.offset, f.length});
  }
  // ABI 1.1 fields: zero (absent) when the plugin's struct ends before them.
  if (l.num_legacy_io > 8 || (l.num_legacy_io != 0 && l.legacy_io == nullptr)) {
    throw VendorAbiError("num_legacy_io must be 0..8 with a legacy_io array");
  }
  for (uint32_t i = 0; i < l.num_legacy_io; ++i) {
    const auto r =
        read_versioned(l.legacy_io[i], XVGPU_LEGACY_IO_DESC_MIN_SIZE, "struct xvgpu_legacy_io_desc");
    if ((r.flags & ~uint32_t{XVGPU_LEGACY_IO_UNALIGNED}) != 0) {
      throw VendorAbiError(fmt::format("legacy I/O range {}: unknown flags {:#x}", i, r.flags));
    }
    LegacyIoLayout li;
    li.first_port = r.first_port;
    li.num_ports = r.num_ports;
    li.access_min = r.access_min == 0 ? 1 : r.access_min;
    li.access_max = r.access_max == 0 ? 4 : r.access_max;
    li.unaligned = (r.flags & XVGPU_LEGACY_IO_UNALIGNED) != 0;
    out.legacy_io.push_back(li);
  }
  validate_layout(out);
  return out;
}

KnobInfo import_knob(const xvgpu_knob_desc* in) {
  const auto k = read_versioned(in, XVGPU_KNOB_DESC_MIN_SIZE, "struct xvgpu_knob_desc");
  KnobInfo out;
  out.name = text(k.name, "knob name");
  if (!valid_name(out.name)) {
    throw VendorAbiError(fmt::format("invalid knob name '{}'", out.name));
  }
  const std::string what = "knob '" + out.name + "'";
  out.description = text(k.description, what + " description", false);
  out.at_create = (k.flags & XVGPU_KNOB_AT_CREATE) != 0;
  out.runtime = (k.flags & XVGPU_KNOB_RUNTIME) != 0;
  out.min = k.min;
  out.max = k.max;
  out.default_value = k.default_value;
  switch (k.type) {
    case XVGPU_KNOB_BOOL:
      out.type = KnobType::Bool;
      out.min = 0;
      out.max = 1;
      if (k.default_value != 0 && k.default_value != 1) {
        throw VendorAbiError(what + ": default must be 0 or 1");
      }
      break;
    case XVGPU_KNOB_INT:
      out.type = KnobType::Int;
      if (k.min > k.max || k.default_value < k.min || k.default_value > k.max) {
        throw VendorAbiError(what + ": needs min <= default <= max");
      }
      break;
    case XVGPU_KNOB_ENUM:
      out.type = KnobType::Enum;
      if (k.num_choices == 0 || k.num_choices > 64 || k.choices == nullptr) {
        throw VendorAbiError(what + ": an enum needs 1..64 choices");
      }
      for (uint32_t i = 0; i < k.num_choices; ++i) {
        out.choices.push_back(text(k.choices[i], what + " choice"));
        if (!valid_name(out.choices.back())) {
          throw VendorAbiError(what + ": invalid choice '" + out.choices.back() + "'");
        }
      }
      out.min = 0;
      out.max = static_cast<int64_t>(k.num_choices) - 1;
      if (k.default_value < 0 || k.default_value > out.max) {
        throw VendorAbiError(what + ": default choice out of range");
      }
      break;
    case XVGPU_KNOB_STRING:
      out.type = KnobType::String;
      if (k.max < 0 || k.max > 4096) {
        throw VendorAbiError(what + ": max length must be 0..4096");
      }
      out.default_text = text(k.default_text, what + " default", false);
      break;
    default:
      throw VendorAbiError(fmt::format("{}: unknown type {}", what, k.type));
  }
  return out;
}

TypeInfo import_type(const xvgpu_type_desc* in, uint32_t num_resources) {
  const auto t = read_versioned(in, XVGPU_TYPE_DESC_MIN_SIZE, "struct xvgpu_type_desc");
  TypeInfo out;
  out.name = text(t.name, "type name");
  if (!valid_name(out.name)) {
    throw VendorAbiError(fmt::format("invalid type name '{}' (want [a-z0-9_.-]+)", out.name));
  }
  try {
    out.description = text(t.description, "description", false);
    out.vram_bytes = t.vram_bytes;
    out.heads = t.heads;
    out.max_width = t.max_width;
    out.max_height = t.max_height;
    out.max_instances = t.max_instances;
    out.costs.assign(num_resources, 0);
    if (t.costs != nullptr) {
      out.costs.assign(t.costs, t.costs + num_resources);
    }
    out.layout = import_layout(t.layout);
    if (t.num_stats > 256 || (t.num_stats != 0 && t.stat_names == nullptr)) {
      throw VendorAbiError("num_stats must be 0..256");
    }
    std::set<std::string> seen;
    for (uint32_t i = 0; i < t.num_stats; ++i) {
      auto n = text(t.stat_names[i], "stat name");
      if (!valid_name(n) || n.starts_with("core.")) {
        throw VendorAbiError("invalid counter name '" + n + "' (core.* is reserved)");
      }
      if (!seen.insert(n).second) {
        throw VendorAbiError("duplicate counter name '" + n + "'");
      }
      out.stat_names.push_back(std::move(n));
    }
    if (t.num_knobs > 64 || (t.num_knobs != 0 && t.knobs == nullptr)) {
      throw VendorAbiError("num_knobs must be 0..64");
    }
    seen.clear();
    for (uint32_t i = 0; i < t.num_knobs; ++i) {
      out.knobs.push_back(import_knob(t.knobs[i]));
      if (!seen.insert(out.knobs.back().name).second) {
        throw VendorAbiError("duplicate knob '" + out.knobs.back().name + "'");
      }
    }
  } catch (const VendorAbiError& e) {
    throw VendorAbiError("type '" + out.name + "': " + e.what());
  }
  return out;
}

}  // namespace

PgpuInfo import_pgpu(const xvgpu_pgpu_desc* desc, const std::string& vendor) {
  const auto d = read_versioned(desc, XVGPU_PGPU_DESC_MIN_SIZE, "struct xvgpu_pgpu_desc");
  PgpuInfo out;
  out.vendor = vendor;
  out.name = text(d.name, "physical GPU name");
  if (!valid_name(out.name, true)) {
    throw VendorAbiError("invalid physical GPU name '" + out.name + "'");
  }
  try {
    out.description = text(d.description, "description", false);
    out.vendor_id = d.vendor_id;
    out.device_id = d.device_id;
    if (d.num_resources > 16 || (d.num_resources != 0 && d.resources == nullptr)) {
      throw VendorAbiError("num_resources must be 0..16");
    }
    std::set<std::string> seen;
    for (uint32_t i = 0; i < d.num_resources; ++i) {
      const auto r = read_versioned(d.resources[i], XVGPU_RESOURCE_MIN_SIZE, "struct xvgpu_resource");
      ResourceInfo ri{text(r.name, "resource name"), r.capacity};
      if (!valid_name(ri.name) || !seen.insert(ri.name).second) {
        throw VendorAbiError("invalid or duplicate resource '" + ri.name + "'");
      }
      out.resources.push_back(std::move(ri));
    }
    if (d.num_types == 0 || d.num_types > 64 || d.types == nullptr) {
      throw VendorAbiError("a physical GPU needs 1..64 types");
    }
    seen.clear();
    for (uint32_t i = 0; i < d.num_types; ++i) {
      out.types.push_back(import_type(d.types[i], d.num_resources));
      if (!seen.insert(out.types.back().name).second) {
        throw VendorAbiError("duplicate type '" + out.types.back().name + "'");
      }
    }
  } catch (const VendorAbiError& e) {
    throw VendorAbiError("physical GPU '" + out.name + "': " + e.what());
  }
  return out;
}

}  // namespace xvgpu::gpu
