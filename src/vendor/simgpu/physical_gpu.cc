#include "vendor/simgpu/physical_gpu.h"

#include <charconv>
#include <cstdlib>

#include "common/error.h"
#include "vendor/simgpu/display_registers.h"
#include "vendor/simgpu/engine_interface.h"
#include "vendor/simgpu/knobs.h"

namespace xvgpu::simgpu {

namespace {

bool parse_u64(std::string_view s, uint64_t& out) {
  if (s.empty()) return false;
  const auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  return ec == std::errc{} && p == s.data() + s.size();
}

}  // namespace

std::vector<PhysicalGpuConfig> parse_physical_gpus(const std::string& text) {
  std::vector<PhysicalGpuConfig> out;
  size_t start = 0;
  while (start <= text.size()) {
    const size_t comma = text.find(',', start);
    const std::string item =
        text.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
    const size_t c1 = item.find(':');
    const size_t c2 = c1 == std::string::npos ? std::string::npos : item.find(':', c1 + 1);
    uint64_t mib = 0;
    uint64_t contexts = 0;
    if (c2 == std::string::npos || c1 == 0 ||
        !parse_u64(std::string_view(item).substr(c1 + 1, c2 - c1 - 1), mib) ||
        !parse_u64(std::string_view(item).substr(c2 + 1), contexts)) {
      throw Error("simgpu: physical GPU \"" + item + "\" is not name:vram_mib:engine_contexts");
    }
    PhysicalGpuConfig cfg;
    cfg.name = item.substr(0, c1);
    for (const char ch : cfg.name) {
      if (!((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '-' || ch == '_')) {
        throw Error("simgpu: physical GPU name \"" + cfg.name + "\" may only use a-z, 0-9, '-' and '_'");
      }
    }
    if (mib < 16 || mib > 65536)
      throw Error("simgpu: physical GPU \"" + cfg.name + "\": VRAM must be 16..65536 MiB");
    if (contexts < 1 || contexts > 256) {
      throw Error("simgpu: physical GPU \"" + cfg.name + "\": engine contexts must be 1..256");
    }
    for (const auto& other : out) {
      if (other.name == cfg.name) throw Error("simgpu: physical GPU \"" + cfg.name + "\" is listed twice");
    }
    cfg.vram_bytes = mib * kMiB;
    cfg.engine_contexts = static_cast<uint32_t>(contexts);
    out.push_back(cfg);
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  return out;
}

PhysicalGpu::PhysicalGpu(PhysicalGpuConfig config) : config_(std::move(config)) {
  const size_t n = kTypeProfiles.size();
  bars_.reserve(3 * n);
  bar_ptrs_.resize(n);
  layouts_.resize(n);
  costs_.resize(n);
  types_.resize(n);

  knobs_.reserve(kKnobs.size());
  for (const Knob& k : kKnobs) {
    xvgpu_knob_desc d{};
    d.struct_size = XVGPU_INIT(xvgpu_knob_desc);
    d.type = k.type;
    d.flags = k.flags;
    d.name = k.name;
    d.description = k.description;
    d.num_choices = static_cast<uint32_t>(k.choices.size());
    d.choices = k.choices.data();
    d.min = k.min;
    d.max = k.max;
    d.default_value = k.default_value;
    d.default_text = k.default_text;
    knobs_.push_back(d);
  }
  for (const auto& k : knobs_) knob_ptrs_.push_back(&k);

  // Legacy ports (vendor ABI 1.1): the VGA registers the MMIO BAR mirrors at 0x400, and the
  // Bochs VBE index/data pair (a 16-bit OUT to the data port 0x1cf covers 0x1cf-0x1d0).
  auto& vga = legacy_io_[kLegacyVga];
  vga = xvgpu_legacy_io_desc{};
  vga.struct_size = XVGPU_INIT(xvgpu_legacy_io_desc);
  vga.first_port = kVgaFirstPort;
  vga.num_ports = kVgaPorts;
  vga.access_min = 1;
  vga.access_max = 2;
  auto& vbe = legacy_io_[kLegacyVbe];
  vbe = xvgpu_legacy_io_desc{};
  vbe.struct_size = XVGPU_INIT(xvgpu_legacy_io_desc);
  vbe.first_port = kVbeIndexPort;
  vbe.num_ports = 3;
  vbe.access_min = 1;
  vbe.access_max = 2;
  vbe.flags = XVGPU_LEGACY_IO_UNALIGNED;
  legacy_io_ptrs_ = {&legacy_io_[0], &legacy_io_[1]};

  for (size_t t = 0; t < n; ++t) {
    const auto& profile = kTypeProfiles[t];
    const size_t first = bars_.size();
    xvgpu_bar_desc vram{};
    vram.struct_size = XVGPU_INIT(xvgpu_bar_desc);
    vram.index = 0;
    vram.size = profile.vram_bytes;
    vram.flags = XVGPU_BAR_PREFETCHABLE | XVGPU_BAR_DIRECT;
    bars_.push_back(vram);
    xvgpu_bar_desc regs{};
    regs.struct_size = XVGPU_INIT(xvgpu_bar_desc);
    regs.index = 2;
    regs.size = mmio::kBarSize;
    regs.access_min = 1;
    regs.access_max = 4;
    bars_.push_back(regs);
    xvgpu_bar_desc eng{};
    eng.struct_size = XVGPU_INIT(xvgpu_bar_desc);
    eng.index = 4;
    eng.size = engine::kBarSize;
    eng.access_min = 4;
    eng.access_max = 4;
    bars_.push_back(eng);
    for (size_t b = first; b < first + 3; ++b) bar_ptrs_[t].push_back(&bars_[b]);

    auto& layout = layouts_[t];
    layout = xvgpu_device_layout{};
    layout.struct_size = XVGPU_INIT(xvgpu_device_layout);
    layout.vendor_id = 0x1234;
    layout.device_id = 0x1111;
    layout.subsystem_vendor_id = 0x1234;
    layout.subsystem_id = 0x1111;
    layout.revision = 2;  // >= 2: the QEMU extended registers at 0x600 are present
    layout.class_code = 0x03;
    layout.subclass = 0x00;
    layout.prog_if = 0x00;
    layout.msi_vectors = 1;
    layout.intx_pin = 1;
    layout.num_bars = 3;
    layout.bars = bar_ptrs_[t].data();
    layout.num_legacy_io = legacy_io_ptrs_.size();
    layout.legacy_io = legacy_io_ptrs_.data();

    costs_[t] = {profile.vram_bytes, 1};
    auto& type = types_[t];
    type = xvgpu_type_desc{};
    type.struct_size = XVGPU_INIT(xvgpu_type_desc);
    type.name = profile.name;
    type.description = profile.description;
    type.vram_bytes = profile.vram_bytes;
    type.heads = profile.heads;
    type.max_width = profile.max_width;
    type.max_height = profile.max_height;
    type.max_instances = 0;
    type.costs = costs_[t].data();
    type.layout = &layout;
    type.num_stats = kStatCount;
    type.stat_names = kStatNames.data();
    type.num_knobs = kKnobCount;
    type.knobs = knob_ptrs_.data();
    type_ptrs_.push_back(&type);
  }

  resources_[0] = xvgpu_resource{XVGPU_INIT(xvgpu_resource), 0, "vram", config_.vram_bytes};
  resources_[1] = xvgpu_resource{XVGPU_INIT(xvgpu_resource), 0, "engine_contexts", config_.engine_contexts};
  resource_ptrs_ = {&resources_[0], &resources_[1]};

  description_ = "simulated GPU with " + std::to_string(config_.vram_bytes / kMiB) + " MiB VRAM and " +
                 std::to_string(config_.engine_contexts) + " engine contexts";
  pgpu_desc_.struct_size = XVGPU_INIT(xvgpu_pgpu_desc);
  pgpu_desc_.vendor_id = 0x1234;
  pgpu_desc_.device_id = 0x1111;
  pgpu_desc_.name = config_.name.c_str();
  pgpu_desc_.description = description_.c_str();
  pgpu_desc_.num_types = static_cast<uint32_t>(n);
  pgpu_desc_.types = type_ptrs_.data();
  pgpu_desc_.num_resources = resources_.size();
  pgpu_desc_.resources = resource_ptrs_.data();
}

std::filesystem::path default_arbiter_dir() {
  const char* env = std::getenv("XVGPU_STATE_DIR");
  const std::filesystem::path state = (env != nullptr && *env != '\0') ? env : "/run/xvgpu";
  return state / "simgpu";
}

void PhysicalGpu::open_arbiter() {
  std::lock_guard lock(arbiter_mu_);
  open_arbiter_locked();
}

void PhysicalGpu::open_arbiter_locked() {
  if (arbiter_ || !arbiter_error_.empty()) return;
  const auto warn = [this](const std::string& m) {
    if (log_) log_(XVGPU_LOG_WARN, m);
  };
  if (!config_.arbiter_dir.empty()) {
    std::error_code ec;
    std::filesystem::create_directories(config_.arbiter_dir, ec);
    const auto file = config_.arbiter_dir / (config_.name + ".engine");
    try {
      if (ec) throw SystemError(ec.value(), "creating " + config_.arbiter_dir.string());
      arbiter_ = EngineArbiter::open_shared(file, config_.arbiter_slots);
    } catch (const SystemError& e) {
      warn("simgpu: physical GPU " + config_.name + ": no host-wide engine arbiter (" + e.what() +
           "); engine weights and priorities apply only among the vGPUs of this process");
    } catch (const Error& e) {
      // Reported by every vGPU creation on this GPU until the process restarts.
      arbiter_error_ = e.what();
      return;
    }
  }
  if (!arbiter_) arbiter_ = EngineArbiter::open_private(config_.arbiter_slots);
  arbiter_->set_logger(warn);
}

EngineArbiter& PhysicalGpu::arbiter() {
  std::lock_guard lock(arbiter_mu_);
  open_arbiter_locked();
  if (!arbiter_) throw Error(arbiter_error_);
  return *arbiter_;
}

uint32_t PhysicalGpu::available(uint32_t type_index) const {
  if (type_index >= kTypeProfiles.size()) return 0;
  std::lock_guard lock(mu_);
  const uint64_t by_vram = (config_.vram_bytes - vram_used_) / kTypeProfiles[type_index].vram_bytes;
  const uint64_t by_engine = config_.engine_contexts - contexts_used_;
  return static_cast<uint32_t>(std::min(by_vram, by_engine));
}

bool PhysicalGpu::reserve(uint32_t type_index) {
  if (type_index >= kTypeProfiles.size()) return false;
  std::lock_guard lock(mu_);
  const uint64_t need = kTypeProfiles[type_index].vram_bytes;
  if (config_.vram_bytes - vram_used_ < need || contexts_used_ >= config_.engine_contexts) return false;
  vram_used_ += need;
  ++contexts_used_;
  return true;
}

void PhysicalGpu::unreserve(uint32_t type_index) {
  if (type_index >= kTypeProfiles.size()) return;
  std::lock_guard lock(mu_);
  vram_used_ -= std::min(vram_used_, kTypeProfiles[type_index].vram_bytes);
  if (contexts_used_ > 0) --contexts_used_;
}

}  // namespace xvgpu::simgpu
