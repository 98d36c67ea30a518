#include "vendor/simgpu/engine.h"

#include <algorithm>
#include <cstring>

namespace xvgpu::simgpu {

using namespace engine;

namespace {
bool power_of_two(uint32_t v) {
  return v != 0 && (v & (v - 1)) == 0;
}
}  // namespace

Engine::Engine(const HostServices& host, std::span<std::byte> vram, VramDirtyMap& dirty,
               EngineArbiter& arbiter, EngineArbiter::Id id)
    : host_(host), vram_(vram), dirty_(dirty), arbiter_(arbiter), id_(id) {}

std::optional<uint32_t> Engine::read(uint32_t offset) {
  std::lock_guard lock(mu_);
  const auto& r = regs_;
  switch (offset) {
    case kRegId:
      return kEngineId;
    case kRegVersion:
      return kEngineVersion;
    case kRegCaps:
      return kSupportedOps;
    case kRegControl:
      return r.enabled ? kControlEnable : 0;
    case kRegRingBaseLo:
      return static_cast<uint32_t>(r.ring_base);
    case kRegRingBaseHi:
      return static_cast<uint32_t>(r.ring_base >> 32);
    case kRegRingSize:
      return r.ring_size;
    case kRegRingHead:
      return r.head;
    case kRegRingTail:
      return r.tail;
    case kRegFence:
      return r.fence;
    case kRegStatus:
      return r.status | ((pending_locked() || running_) ? kStatusBusy : 0);
    case kRegErrorCode:
      return r.error_code;
    case kRegErrorCount:
      return r.error_count;
    case kRegIrqStatus:
      return r.irq_status;
    case kRegIrqMask:
      return r.irq_mask;
    case kRegFenceAddrLo:
      return static_cast<uint32_t>(r.fence_addr);
    case kRegFenceAddrHi:
      return static_cast<uint32_t>(r.fence_addr >> 32);
    case kRegJobsCompleted:
      return r.jobs_completed;
    default:
      return std::nullopt;
  }
}

bool Engine::ring_valid_locked() const {
  const auto& r = regs_;
  if (!power_of_two(r.ring_size) || r.ring_size < kMinRingSize || r.ring_size > kMaxRingSize) return false;
  if (r.ring_base % kRingAlignment != 0) return false;
  const uint64_t bytes = uint64_t{r.ring_size} * kDescriptorSize;
  return r.ring_base <= UINT64_MAX - bytes;
}

void Engine::reject_locked(uint32_t error) {
  regs_.status |= kStatusError;
  regs_.error_code = error;
  ++regs_.error_count;
  counters_.rejected.fetch_add(1, std::memory_order_relaxed);
}

Engine::IrqAction Engine::intx_level_locked() {
  const bool level = (regs_.irq_status & regs_.irq_mask) != 0;
  if (msi_enabled_ || level == intx_asserted_) return IrqAction::None;
  intx_asserted_ = level;
  return level ? IrqAction::IntxAssert : IrqAction::IntxDeassert;
}

Engine::IrqAction Engine::signal_locked(uint32_t cause) {
  regs_.irq_status |= cause;
  if ((cause & regs_.irq_mask) == 0) return IrqAction::None;
  if (msi_enabled_) return IrqAction::Msi;
  return intx_level_locked();
}

void Engine::deliver(IrqAction action) {
  switch (action) {
    case IrqAction::None:
      return;
    case IrqAction::Msi: {
      const int rc = host_.raise_msi(0);
      if (rc == XVGPU_MSI_DELIVERED || rc == XVGPU_MSI_PENDING) counters_.interrupts.fetch_add(1);
      return;
    }
    case IrqAction::IntxAssert:
      if (host_.set_intx(true) == 0) counters_.interrupts.fetch_add(1);
      return;
    case IrqAction::IntxDeassert:
      (void)host_.set_intx(false);
      return;
  }
}

bool Engine::write(uint32_t offset, uint32_t value) {
  IrqAction action = IrqAction::None;
  bool kick_now = false;
  bool known = true;
  {
    std::lock_guard lock(mu_);
    auto& r = regs_;
    switch (offset) {
      case kRegControl:
        if ((value & kControlReset) != 0) {
          const uint32_t mask = r.irq_mask;
          r = EngineRegisters{};
          r.irq_mask = mask;
          ++generation_;
          action = intx_level_locked();
          break;
        }
        if ((value & kControlEnable) != 0 && !r.enabled) {
          if (!ring_valid_locked()) {
            r.status |= kStatusRingError;
            reject_locked(kErrorBadRing);
            action = signal_locked(kIrqError);
            break;
          }
          r.enabled = true;
          r.status &= ~kStatusRingError;
          kick_now = pending_locked();
        } else if ((value & kControlEnable) == 0) {
          r.enabled = false;
        }
        break;
      case kRegRingBaseLo:
      case kRegRingBaseHi:
      case kRegRingSize:
        if (r.enabled) {
          reject_locked(kErrorBusyConfig);
          action = signal_locked(kIrqError);
          break;
        }
        if (offset == kRegRingBaseLo) r.ring_base = (r.ring_base & ~uint64_t{0xffffffff}) | value;
        if (offset == kRegRingBaseHi) r.ring_base = (r.ring_base & 0xffffffff) | uint64_t{value} << 32;
        if (offset == kRegRingSize) r.ring_size = value;
        r.head = 0;
        r.tail = 0;
        ++generation_;  // a descriptor still executing belongs to the old ring
        break;
      case kRegDoorbell:
        if (value >= r.ring_size) {
          reject_locked(kErrorBadTail);
          action = signal_locked(kIrqError);
          break;
        }
        r.tail = value;
        kick_now = pending_locked();
        break;
      case kRegIrqStatus:
        r.irq_status &= ~value;
        action = intx_level_locked();
        break;
      case kRegIrqMask:
        r.irq_mask = value & (kIrqCompletion | kIrqError);
        action = intx_level_locked();
        break;
      case kRegFenceAddrLo:
        r.fence_addr = (r.fence_addr & ~uint64_t{0xffffffff}) | value;
        break;
      case kRegFenceAddrHi:
        r.fence_addr = (r.fence_addr & 0xffffffff) | uint64_t{value} << 32;
        break;
      default:
        known = false;  // read-only or no register
        break;
    }
  }
  deliver(action);
  if (kick_now) schedule();
  return known;
}

void Engine::set_msi_enabled(bool enabled) {
  IrqAction action = IrqAction::None;
  {
    std::lock_guard lock(mu_);
    msi_enabled_ = enabled;
    if (enabled && intx_asserted_) {
      intx_asserted_ = false;
      action = IrqAction::IntxDeassert;
    } else {
      action = intx_level_locked();
    }
  }
  deliver(action);
}

void Engine::reset() {
  bool deassert = false;
  {
    std::lock_guard lock(mu_);
    regs_ = EngineRegisters{};
    ++generation_;
    deassert = intx_asserted_;
    intx_asserted_ = false;
  }
  if (deassert) deliver(IrqAction::IntxDeassert);
}

void Engine::kick() {
  bool pending = false;
  {
    std::lock_guard lock(mu_);
    pending = pending_locked();
  }
  if (pending) schedule();
}

bool Engine::schedule() {
  {
    std::lock_guard lock(mu_);
    if (job_queued_) return true;
    job_queued_ = true;
  }
  if (host_.queue_work(&Engine::work_trampoline, this) < 0) {
    {
      std::lock_guard lock(mu_);
      job_queued_ = false;
    }
    host_.log(XVGPU_LOG_ERROR, "simgpu engine: the core refused to queue engine work");
    return false;
  }
  return true;
}

void Engine::work_trampoline(void* self) {
  static_cast<Engine*>(self)->work();
}

void Engine::work() {
  bool more = false;
  {
    std::lock_guard lock(mu_);
    job_queued_ = false;
    more = pending_locked();
  }
  if (!more) {
    arbiter_.withdraw(id_);  // a previous job yielded expecting to continue: nothing left
    return;
  }
  unsigned budget = kDescriptorsPerJob;
  while (more && budget-- > 0) {
    arbiter_.acquire(id_);
    const RunResult r = run_one();
    // When the budget runs out with work left, this vGPU stays a contender across the
    // requeue, so yielding the worker does not cost it its share of the engine.
    arbiter_.release(id_, r.cost, r.more);
    more = r.more;
  }
  if (more && !schedule()) arbiter_.withdraw(id_);
}

Engine::RunResult Engine::run_one() {
  uint64_t ring_base = 0;
  uint32_t ring_size = 0;
  uint32_t head = 0;
  uint64_t generation = 0;
  {
    std::lock_guard lock(mu_);
    if (!pending_locked()) return {};
    ring_base = regs_.ring_base;
    ring_size = regs_.ring_size;
    head = regs_.head;
    generation = generation_;
    running_ = true;
  }
  const ByteRange ring{ring_base, uint64_t{ring_size} * kDescriptorSize};
  std::array<std::byte, kDescriptorSize> raw{};
  const bool fetched = host_.guest_read(ring_base + uint64_t{head} * kDescriptorSize, raw) == 0;
  Descriptor d{};
  uint32_t error = kErrorRingFault;
  CheckedDescriptor checked;
  if (fetched) {
    std::memcpy(&d, raw.data(), sizeof d);  // the ring is little endian, like the host
    checked = check_descriptor(d, vram_.size(), ring);
    error = checked.error != kErrorNone ? checked.error : execute(d, checked);
    if (error == kErrorNone && d.opcode != kOpCopyFromVram)
      dirty_.mark(checked.dst.first, checked.dst.length);
  }

  IrqAction action = IrqAction::None;
  RunResult result{kDescriptorOverhead, false};
  uint64_t fence_addr = 0;
  {
    std::lock_guard lock(mu_);
    running_ = false;
    if (generation != generation_) return result;  // reset while running: forget it
    if (!fetched) {
      // The ring itself is not guest RAM: nothing sane can follow, stop the engine.
      regs_.enabled = false;
      regs_.status |= kStatusRingError;
      reject_locked(kErrorRingFault);
      action = signal_locked(kIrqError);
    } else {
      regs_.head = (head + 1) & (ring_size - 1);
      regs_.fence = d.seqno;
      fence_addr = regs_.fence_addr;
      if (error == kErrorNone) {
        ++regs_.jobs_completed;
        counters_.jobs.fetch_add(1, std::memory_order_relaxed);
        counters_.bytes.fetch_add(checked.bytes, std::memory_order_relaxed);
        result.cost += checked.bytes;
        if ((d.flags & kFlagIrq) != 0) action = signal_locked(kIrqCompletion);
      } else {
        reject_locked(error);
        action = signal_locked(kIrqError);
      }
      result.more = pending_locked();
    }
  }
  if (fetched && fence_addr != 0) {
    // The fence write-back must not land in the ring, and must be guest RAM.
    const ByteRange fence_range{fence_addr, sizeof(uint32_t)};
    const uint32_t seqno = d.seqno;
    if (fence_range.overlaps(ring) || fence_addr % sizeof(uint32_t) != 0 ||
        host_.guest_write(fence_addr, std::as_bytes(std::span(&seqno, 1))) != 0) {
      std::lock_guard lock(mu_);
      if (generation == generation_) {
        reject_locked(kErrorFenceFault);
        if (action == IrqAction::None)
          action = signal_locked(kIrqError);
        else
          regs_.irq_status |= kIrqError;
      }
    }
  }
  deliver(action);
  return result;
}

uint32_t Engine::execute(const Descriptor& d, const CheckedDescriptor& c) {
  const uint64_t rows = d.height;
  const size_t width = d.width;
  std::byte* vram = vram_.data();
  switch (d.opcode) {
    case kOpCopyToVram: {
      GuestWindow src;
      if (host_.map(c.src.first, c.src.length, false, src) != 0) return kErrorGuestRange;
      for (uint64_t y = 0; y < rows; ++y) {
        std::memcpy(vram + d.dst + y * d.dst_pitch, src.bytes().data() + y * d.src_pitch, width);
      }
      return kErrorNone;
    }
    case kOpCopyFromVram: {
      GuestWindow dst;
      if (host_.map(c.dst.first, c.dst.length, true, dst) != 0) return kErrorGuestRange;
      for (uint64_t y = 0; y < rows; ++y) {
        std::memcpy(dst.bytes().data() + y * d.dst_pitch, vram + d.src + y * d.src_pitch, width);
      }
      return kErrorNone;
    }
    case kOpFill: {
      // The first row by doubling copies of the pattern, the others copied from it (rows do not
      // overlap): a few large copies rather than one 4-byte store per pixel.
      std::byte* first = vram + d.dst;
      for (unsigned i = 0; i < 4; ++i) first[i] = static_cast<std::byte>(d.fill_value >> (8 * i));
      for (size_t done = 4; done < width;) {
        const size_t n = std::min(done, width - done);
        std::memcpy(first + done, first, n);
        done += n;
      }
      for (uint64_t y = 1; y < rows; ++y) std::memcpy(first + y * d.dst_pitch, first, width);
      return kErrorNone;
    }
    case kOpBlit:
      for (uint64_t y = 0; y < rows; ++y) {
        std::memcpy(vram + d.dst + y * d.dst_pitch, vram + d.src + y * d.src_pitch, width);
      }
      return kErrorNone;
    default:
      return kErrorBadOpcode;
  }
}

void Engine::set_counters(uint64_t jobs, uint64_t bytes, uint64_t interrupts, uint64_t rejected) {
  counters_.jobs.store(jobs);
  counters_.bytes.store(bytes);
  counters_.interrupts.store(interrupts);
  counters_.rejected.store(rejected);
}

EngineRegisters Engine::registers() const {
  std::lock_guard lock(mu_);
  return regs_;
}

bool Engine::restore(const EngineRegisters& regs, std::string& why) {
  std::lock_guard lock(mu_);
  const EngineRegisters saved = regs_;
  regs_ = regs;
  const bool size_ok = power_of_two(regs.ring_size) && regs.ring_size <= kMaxRingSize;
  if ((regs.enabled && !ring_valid_locked()) ||
      (size_ok && (regs.head >= regs.ring_size || regs.tail >= regs.ring_size)) ||
      (!size_ok && (regs.head != 0 || regs.tail != 0))) {
    regs_ = saved;
    why = "engine ring state is inconsistent (size, base or head/tail out of range)";
    return false;
  }
  regs_.irq_mask &= kIrqCompletion | kIrqError;
  regs_.status &= kStatusError | kStatusRingError;
  ++generation_;
  return true;
}

}  // namespace xvgpu::simgpu
