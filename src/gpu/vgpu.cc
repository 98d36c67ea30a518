// The life cycle of a vGPU: construction from its config, create/start/stop/reset/destroy
// (vgpu_state.h's state machine), attaching to the bus, and the interrupt lines it drives.
#include "gpu/vgpu.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstring>

#include "gpu/device_bus.h"
#include "gpu/msi_delivery.h"
#include "gpu/uuid.h"
#include "gpu/vendor_descriptor.h"

namespace xvgpu::gpu {

// Maps BAR windows through the platform (claims / direct placement) and the bus routes.
class Vgpu::MapHooks : public BarMapper::Hooks {
 public:
  explicit MapHooks(Vgpu& v) : v_(v) {}
  void map_bar(const BarLayout& bar, const BarWindow& w) override {
    auto it = v_.direct_.find(bar.index);
    if (it != v_.direct_.end() && it->second.region) {
      it->second.region->place(w.first);
      return;
    }
    if (!touch_bus) {
      v_.platform_.claims->claim_range(w.space, w.first, w.last);
      return;
    }
    // The bus knows every window the guest's vGPUs decode (this one's other BARs, other
    // vGPUs, legacy ports): route first, so a guest that overlaps two windows is refused here
    // and the hypervisor is never asked for an overlapping claim.
    v_.bus_.add_route(w.space, w.first, w.last, v_.shared_from_this());
    try {
      v_.platform_.claims->claim_range(w.space, w.first, w.last);
    } catch (...) {
      v_.bus_.remove_route(w.space, w.first);
      throw;
    }
  }
  void unmap_bar(const BarLayout& bar, const BarWindow& w) noexcept override {
    try {
      auto it = v_.direct_.find(bar.index);
      if (it != v_.direct_.end() && it->second.region) {
        it->second.region->unplace();
        return;
      }
      if (touch_bus) {
        v_.bus_.remove_route(w.space, w.first);
      }
      v_.platform_.claims->release_range(w.space, w.first, w.last);
    } catch (const std::exception& e) {
      spdlog::warn("vGPU {}: releasing BAR {} at {:#x}: {}", v_.uuid_, bar.index, w.first, e.what());
    }
  }
  bool touch_bus = true;

 private:
  Vgpu& v_;
};

Vgpu::Vgpu(const VgpuConfig& config, PhysicalGpu& pgpu, uint32_t type_index, const Platform& platform,
           DeviceBus& bus, HostAccounting& accounting)
    : pgpu_(pgpu),
      type_index_(type_index),
      type_(pgpu.info().types.at(type_index)),
      platform_(platform),
      bus_(bus),
      accounting_(accounting),
      sbdf_(config.sbdf),
      rom_(config.rom),
      cfg_(type_.layout, config.rom ? config.rom->bar_size() : 0) {
  const auto u = normalize_uuid(config.uuid);
  if (!u) {
    throw Error(fmt::format("invalid vGPU uuid '{}' (want 8-4-4-4-12 hex digits)", config.uuid));
  }
  uuid_ = *u;
  if (!config.vm_uuid.empty()) {
    const auto vm = normalize_uuid(config.vm_uuid);
    if (!vm) {
      throw Error(fmt::format("invalid VM uuid '{}'", config.vm_uuid));
    }
    vm_uuid_ = *vm;
  }
  vm_name_ = config.vm_name.substr(0, 255);
  incoming_ = config.incoming;
  if (rom_ && (rom_->vendor_id() != type_.layout.vendor_id || rom_->device_id() != type_.layout.device_id)) {
    throw Error(
        fmt::format("the expansion ROM is for PCI {} but type {} is {:04x}:{:04x} (a BIOS would not run it)",
                    rom_->ids_text(), type_.name, type_.layout.vendor_id, type_.layout.device_id));
  }
  if (!sbdf_.valid()) {
    throw Error("invalid PCI address for vGPU " + uuid_);
  }
  if (platform_.memory == nullptr || platform_.interrupts == nullptr || platform_.claims == nullptr) {
    throw Error("vGPU " + uuid_ + ": the platform lacks guest memory, interrupts or range claims");
  }
  if (platform_.domid != bus.domid()) {
    throw Error("vGPU " + uuid_ + ": platform and bus serve different domains");
  }
  // Creation parameters: each names a creation-time knob of the type; values are validated now.
  std::vector<std::string> seen;
  param_texts_.reserve(config.params.size());
  for (const auto& [key, value] : config.params) {
    uint32_t index = 0;
    const KnobInfo* knob = type_.knob(key, &index);
    if (knob == nullptr || !knob->at_create) {
      std::vector<std::string> names;
      for (const auto& k : type_.knobs) {
        if (k.at_create) {
          names.push_back(k.name);
        }
      }
      throw Error(
          fmt::format("unknown parameter '{}' for vGPU type {}; accepted: {}", key, type_.name,
                      names.empty() ? std::string("none") : fmt::format("{}", fmt::join(names, ", "))));
    }
    if (std::find(seen.begin(), seen.end(), key) != seen.end()) {
      throw Error("parameter '" + key + "' given twice");
    }
    seen.push_back(key);
    const KnobValue v = parse_knob_value(*knob, value);
    param_texts_.push_back(v.text);
    create_params_.push_back(xvgpu_knob_value{index, 0, v.integer, nullptr});
  }
  for (size_t i = 0; i < create_params_.size(); ++i) {
    if (type_.knobs[create_params_[i].knob].type == KnobType::String) {
      create_params_[i].text = param_texts_[i].c_str();
    }
  }
}

Vgpu::~Vgpu() {
  std::lock_guard lock(mu_);
  if (state_ == VgpuState::Running) {
    xvgpu_error err{};
    if (worker_) {
      worker_->drain();
    }
    (void)pgpu_.ops().shutdown(vendor_data_, &err);
    detach_locked(false);
    state_ = VgpuState::Stopped;
  }
  if (state_ == VgpuState::Created || state_ == VgpuState::Stopped) {
    if (worker_) {
      worker_->close();
      worker_->drain();
    }
    xvgpu_error err{};
    const int rc = pgpu_.ops().destroy(vendor_data_, &err);
    if (rc < 0) {
      spdlog::warn("vGPU {}: vendor refused destroy at exit: {}", uuid_, vendor_message(err));
    }
    release_resources_locked();
    state_ = VgpuState::Destroyed;
  }
}

VgpuState Vgpu::state() const {
  std::lock_guard lock(mu_);
  return state_;
}

VgpuState Vgpu::transition(VgpuOp op) const {
  return next_state(state_, op, uuid_);
}

void Vgpu::throw_vendor_error(const char* what, int rc, const xvgpu_error& err) const {
  std::string msg = vendor_message(err);
  throw Error(fmt::format("vendor {} refused to {} vGPU {}: {} (error {})", pgpu_.info().vendor, what, uuid_,
                          msg.empty() ? std::string("no reason given") : msg, rc));
}

void Vgpu::create() {
  std::lock_guard lock(mu_);
  const VgpuState next = transition(VgpuOp::Create);
  if (pgpu_.vendor_available(type_index_) == 0) {
    throw NoCapacityError(
        fmt::format("no capacity for another {} on {}/{}: the vendor reports none available", type_.name,
                    pgpu_.info().vendor, pgpu_.info().name));
  }
  reservation_ = accounting_.reserve(uuid_, pgpu_.info(), type_,
                                     ReservationOwner{platform_.domid.value, vm_uuid_, vm_name_, incoming_});
  try {
    for (const auto& bar : type_.layout.bars) {
      if (!bar.direct) {
        continue;
      }
      DirectBar d;
      if (platform_.direct_memory != nullptr) {
        d.region = platform_.direct_memory->allocate(bar.size);
      } else {
        d.fallback = ZeroedMemory(bar.size);  // pages appear as the guest touches them
      }
      direct_.emplace(bar.index, std::move(d));
    }
    worker_ = std::make_unique<Worker>("vgpu " + uuid_);
    xvgpu_create_info info{};
    info.struct_size = sizeof info;
    info.type_index = type_index_;
    std::memcpy(info.uuid, uuid_.c_str(), uuid_.size() + 1);
    info.num_params = static_cast<uint32_t>(create_params_.size());
    info.params = create_params_.data();
    xvgpu_error err{};
    void* data = nullptr;
    const int rc = pgpu_.ops().create(pgpu_.data(), &handle_, &info, &data, &err);
    if (rc < 0) {
      throw_vendor_error("create", rc, err);
    }
    vendor_data_ = data;
  } catch (...) {
    release_resources_locked();
    throw;
  }
  state_ = next;
}

void Vgpu::start() {
  std::lock_guard lock(mu_);
  const VgpuState next = transition(VgpuOp::Start);
  xvgpu_domain_info info{};
  info.struct_size = sizeof info;
  info.domid = platform_.domid.value;
  info.pci_segment = sbdf_.seg;
  info.pci_bus = sbdf_.bus;
  info.pci_devfn = static_cast<uint8_t>(sbdf_.dev << 3 | sbdf_.fn);
  std::memcpy(info.vm_uuid, vm_uuid_.c_str(), vm_uuid_.size() + 1);
  std::memcpy(info.vgpu_uuid, uuid_.c_str(), uuid_.size() + 1);
  info.vm_name = vm_name_.c_str();
  {
    std::lock_guard hw(hw_mu_);
    domain_ = info;
  }
  xvgpu_error err{};
  const int rc = pgpu_.ops().start(vendor_data_, &info, &err);
  if (rc < 0) {
    std::lock_guard hw(hw_mu_);
    domain_.reset();
    throw_vendor_error("start", rc, err);
  }
  try {
    attach_locked();
  } catch (...) {
    xvgpu_error ignored{};
    (void)pgpu_.ops().shutdown(vendor_data_, &ignored);
    std::lock_guard hw(hw_mu_);
    domain_.reset();
    throw;
  }
  state_ = next;
}

void Vgpu::stop() {
  std::lock_guard lock(mu_);
  const VgpuState next = transition(VgpuOp::Stop);
  worker_->drain();
  xvgpu_error err{};
  const int rc = pgpu_.ops().shutdown(vendor_data_, &err);
  if (rc < 0) {
    throw_vendor_error("shut down", rc, err);
  }
  detach_locked(true);
  std::lock_guard hw(hw_mu_);
  domain_.reset();
  state_ = next;
}

void Vgpu::reset() {
  std::lock_guard lock(mu_);
  (void)transition(VgpuOp::Reset);
  worker_->drain();
  xvgpu_error err{};
  const int rc = pgpu_.ops().reset(vendor_data_, &err);
  if (rc < 0) {
    throw_vendor_error("reset", rc, err);
  }
  xvgpu_irq_state irq{};
  {
    std::lock_guard hw(hw_mu_);
    cfg_.reset();
    intx_level_ = false;
    update_intx_locked();
    reconcile_locked();
    irq = irq_state_locked();
  }
  if (pgpu_.ops().irq_changed != nullptr) {
    pgpu_.ops().irq_changed(vendor_data_, &irq);
  }
}

void Vgpu::destroy() {
  std::lock_guard lock(mu_);
  const VgpuState next = transition(VgpuOp::Destroy);
  if (state_ != VgpuState::Defined) {
    worker_->close();
    worker_->drain();
    xvgpu_error err{};
    const int rc = pgpu_.ops().destroy(vendor_data_, &err);
    if (rc < 0) {
      throw_vendor_error("destroy", rc, err);
    }
    release_resources_locked();
  }
  state_ = next;
}

void Vgpu::wait_for_queued_work() {
  if (worker_) {
    worker_->drain();
  }
}

void Vgpu::abandon() noexcept {
  std::lock_guard lock(mu_);
  if (state_ == VgpuState::Destroyed || state_ == VgpuState::Defined) {
    state_ = VgpuState::Destroyed;
    return;
  }
  spdlog::error("vGPU {}: abandoning the vendor instance after a refused teardown", uuid_);
  if (worker_) {
    worker_->close();
    worker_->drain();
  }
  if (state_ == VgpuState::Running) {
    detach_locked(true);
  }
  release_resources_locked();
  state_ = VgpuState::Destroyed;
}

void Vgpu::release_resources_locked() noexcept {
  worker_.reset();
  {
    std::lock_guard sg(sg_mu_);
    if (!sg_maps_.empty()) {
      spdlog::warn("vGPU {}: vendor left {} guest mappings; released", uuid_, sg_maps_.size());
      sg_maps_.clear();
    }
  }
  direct_.clear();
  reservation_.reset();
  vendor_data_ = nullptr;
}

void Vgpu::attach_locked() {
  bus_.attach(sbdf_, shared_from_this());
  try {
    platform_.claims->claim_pci(sbdf_);
  } catch (...) {
    bus_.detach(sbdf_);
    throw;
  }
  std::lock_guard hw(hw_mu_);
  attached_ = true;
  reconcile_locked();
  update_intx_locked();
}

void Vgpu::detach_locked(bool touch_bus) noexcept {
  {
    std::lock_guard hw(hw_mu_);
    attached_ = false;
    MapHooks hooks(*this);
    hooks.touch_bus = touch_bus;
    mapper_.reconcile(cfg_, false, hooks);
    update_intx_locked();
  }
  try {
    platform_.claims->release_pci(sbdf_);
  } catch (const std::exception& e) {
    spdlog::warn("vGPU {}: releasing PCI {}: {}", uuid_, sbdf_.to_string(), e.what());
  }
  if (touch_bus) {
    bus_.detach(sbdf_);
  }
}

void Vgpu::reconcile_locked() {
  MapHooks hooks(*this);
  counters_.unmapped_bars += mapper_.reconcile(cfg_, attached_, hooks);
}

void Vgpu::update_intx_locked() {
  const uint8_t pin = type_.layout.intx_pin;
  if (pin == 0) {
    return;
  }
  cfg_.set_intx_status(intx_level_);
  const bool out = attached_ && intx_level_ && (cfg_.command() & pci::kCmdIntxDisable) == 0;
  if (out == intx_out_) {
    return;
  }
  intx_out_ = out;
  try {
    platform_.interrupts->set_intx_level(sbdf_, pin - 1u, out);
  } catch (const std::exception& e) {
    XVGPU_LOG_LIMITED(guest_log_, spdlog::level::warn, "vGPU {}: INTx: {}", uuid_, e.what());
  }
}

xvgpu_irq_state Vgpu::irq_state_locked() const {
  xvgpu_irq_state s{};
  s.struct_size = sizeof s;
  if (const auto msi = read_msi_state(cfg_)) {
    s.msi_enabled = msi->enabled ? 1 : 0;
    s.msi_vectors_enabled = msi->enabled ? msi->vectors_enabled : 0;
  }
  s.intx_disabled = (cfg_.command() & pci::kCmdIntxDisable) != 0 ? 1 : 0;
  return s;
}

void Vgpu::count_bad(const char* what, uint64_t addr, unsigned size) noexcept {
  ++counters_.bad_accesses;
  XVGPU_LOG_LIMITED(guest_log_, spdlog::level::warn, "vGPU {}: refused guest {} at {:#x} size {}", uuid_,
                    what, addr, size);
}

}  // namespace xvgpu::gpu
