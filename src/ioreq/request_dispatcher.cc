#include "ioreq/request_dispatcher.h"

#include <array>
#include <cstring>

namespace xvgpu::ioreq {

const char* to_string(Refusal r) {
  switch (r) {
    case Refusal::BadType:
      return "bad type";
    case Refusal::BadSize:
      return "bad size";
    case Refusal::BadCount:
      return "bad count";
    case Refusal::BadAddress:
      return "bad address";
    case Refusal::Unclaimed:
      return "unclaimed";
    case Refusal::BadBuffer:
      return "bad guest buffer";
    case Refusal::BadBuffered:
      return "bad buffered entry";
    case Refusal::CrossesPage:
      return "rep crosses a page";
    case Refusal::kCount:
      break;
  }
  return "?";
}

namespace {
constexpr uint64_t mask_for(uint8_t size) {
  return size >= 8 ? ~uint64_t{0} : (uint64_t{1} << (8 * size)) - 1;
}

gpu::AddressSpace space_of(uint8_t type) {
  switch (type) {
    case IOREQ_TYPE_PIO:
      return gpu::AddressSpace::Port;
    case IOREQ_TYPE_PCI_CONFIG:
      return gpu::AddressSpace::PciConfig;
    default:
      return gpu::AddressSpace::Mmio;
  }
}
}  // namespace

uint64_t RequestDispatcher::refuse(Refusal why, const ioreq_t& req, VcpuId vcpu) noexcept {
  stats_.count(why);
  XVGPU_LOG_LIMITED(
      limiter_, spdlog::level::warn,
      "dom{} vcpu{}: refused ioreq ({}): type {} dir {} addr {:#x} size {} count {} ptr {} df {}",
      domid_.value, vcpu.value, to_string(why), req.type, req.dir == IOREQ_READ ? "read" : "write", req.addr,
      req.size, req.count, req.data_is_ptr ? 1 : 0, req.df ? 1 : 0);
  // Xen's default for an access nobody claims: reads see all ones, writes vanish. A refused
  // rep read does not touch the (possibly hostile) guest buffer.
  return (req.dir == IOREQ_READ && !req.data_is_ptr) ? ~uint64_t{0} : req.data;
}

uint64_t RequestDispatcher::serve(const ioreq_t& req, VcpuId vcpu, gpu::IoHandler& handler) noexcept {
  stats_.requests.fetch_add(1, std::memory_order_relaxed);
  DecodedRequest d;
  std::optional<Refusal> why = validate_request(req, Channel::Sync, claims_, d);
  uint64_t answer = 0;
  if (why) {
    answer = refuse(*why, req, vcpu);
  } else {
    try {
      answer = serve_valid(d, vcpu, handler);
    } catch (const gpu::GuestMemoryError&) {
      why = Refusal::BadBuffer;
      answer = refuse(*why, req, vcpu);
    } catch (const std::exception& e) {
      stats_.hypervisor_errors.fetch_add(1, std::memory_order_relaxed);
      XVGPU_LOG_LIMITED(limiter_, spdlog::level::err, "dom{} vcpu{}: ioreq failed: {}", domid_.value,
                        vcpu.value, e.what());
      answer = (req.dir == IOREQ_READ && !req.data_is_ptr) ? ~uint64_t{0} : req.data;
    }
  }
  if (trace_ != nullptr) {
    trace_->record(Channel::Sync, req, why);
  }
  return answer;
}

void RequestDispatcher::serve_buffered(const ioreq_t& req, gpu::IoHandler& handler) noexcept {
  stats_.buffered.fetch_add(1, std::memory_order_relaxed);
  DecodedRequest d;
  std::optional<Refusal> why = validate_request(req, Channel::Buffered, claims_, d);
  if (why) {
    refuse(*why, req, VcpuId{0});
  } else {
    try {
      serve_valid(d, VcpuId{0}, handler);
    } catch (const std::exception&) {
      why = Refusal::BadBuffered;
      refuse(*why, req, VcpuId{0});
    }
  }
  if (trace_ != nullptr) {
    trace_->record(Channel::Buffered, req, why);
  }
}

uint64_t RequestDispatcher::serve_valid(const DecodedRequest& d, VcpuId vcpu, gpu::IoHandler& handler) {
  switch (d.type) {
    case IOREQ_TYPE_INVALIDATE:
      stats_.invalidates.fetch_add(1, std::memory_order_relaxed);
      if (invalidate_hook_) {
        invalidate_hook_();
      }
      return d.data;
    case IOREQ_TYPE_TIMEOFFSET:
      stats_.time_offsets.fetch_add(1, std::memory_order_relaxed);
      stats_.last_time_offset.store(static_cast<int64_t>(d.data), std::memory_order_relaxed);
      return d.data;
    default:
      break;
  }
  gpu::IoAccess access;
  access.space = space_of(d.type);
  access.addr = d.addr;
  access.sbdf = d.sbdf;
  access.size = d.size;
  access.vcpu = vcpu;
  if (d.data_is_ptr) {
    return serve_rep(d, access, handler);
  }
  const uint64_t mask = mask_for(d.size);
  if (d.read) {
    stats_.items.fetch_add(1, std::memory_order_relaxed);
    return read_item(access, handler) & mask;
  }
  serve_fill(d, access, d.data & mask, handler);
  return d.data;
}

void RequestDispatcher::serve_fill(const DecodedRequest& d, gpu::IoAccess access, uint64_t value,
                                   gpu::IoHandler& handler) {
  // count is 1, or the count of a rep stos into MMIO (the only repeated value Xen sends):
  // the same value at addr, addr +- size, ... in the order the instruction stores them.
  for (uint32_t i = 0; i < d.count; ++i) {
    const uint64_t delta = uint64_t{i} * d.size;
    access.addr = d.df ? d.addr - delta : d.addr + delta;
    write_item(access, value, handler);
  }
  stats_.items.fetch_add(d.count, std::memory_order_relaxed);
}

uint64_t RequestDispatcher::read_item(const gpu::IoAccess& access, gpu::IoHandler& handler) {
  if (cf8_latch_ != nullptr && PciCf8Latch::covers(access)) {
    return cf8_latch_->read(access);
  }
  return handler.read(access);
}

void RequestDispatcher::write_item(const gpu::IoAccess& access, uint64_t value, gpu::IoHandler& handler) {
  if (cf8_latch_ != nullptr && PciCf8Latch::covers(access)) {
    cf8_latch_->write(access, value);
    return;
  }
  handler.write(access, value);
}

uint64_t RequestDispatcher::serve_rep(const DecodedRequest& d, gpu::IoAccess access,
                                      gpu::IoHandler& handler) {
  // The validator bounded count x size to one page and checked the buffer does not wrap.
  const auto buffer = *rep_span(d.data, d.count, d.size, d.df);
  const size_t bytes = size_t{d.count} * d.size;
  // Device -> guest: pin the buffer before the first device read, so that a bad buffer is
  // refused before any read side effect. Guest -> device: copy the guest's data once.
  std::unique_ptr<gpu::GuestMapping> target;
  std::array<std::byte, kMaxRepBytes> tmp;
  std::span<std::byte> staged(tmp.data(), bytes);
  if (d.read) {
    target = memory_.map(buffer.first, bytes, true);
    staged = target->bytes().first(bytes);
  } else {
    memory_.read(buffer.first, staged);
  }

  const uint64_t step = d.size;
  for (uint32_t i = 0; i < d.count; ++i) {
    const uint64_t delta = uint64_t{i} * step;
    if (d.type == IOREQ_TYPE_COPY) {
      access.addr = d.df ? d.addr - delta : d.addr + delta;
    }
    const uint64_t item_gpa = d.df ? d.data - delta : d.data + delta;
    std::byte* item = staged.data() + (item_gpa - buffer.first);
    uint64_t value = 0;
    if (d.read) {
      value = read_item(access, handler);
      std::memcpy(item, &value, d.size);  // little endian, as the guest sees it
    } else {
      std::memcpy(&value, item, d.size);
      write_item(access, value, handler);
    }
  }
  stats_.items.fetch_add(d.count, std::memory_order_relaxed);
  return d.data;  // releasing `target` reports the written pages dirty
}

}  // namespace xvgpu::ioreq
