#include "ioreq/request_validator.h"

namespace xvgpu::ioreq {

std::optional<ByteSpan> rep_span(uint64_t base, uint32_t count, uint8_t size, bool df) {
  if (count == 0 || size == 0) {
    return std::nullopt;
  }
  const uint64_t tail = uint64_t{count - 1} * size;  // count <= 2^32, size <= 8: no overflow
  if (df) {
    if (base < tail || base > UINT64_MAX - (size - 1)) {
      return std::nullopt;
    }
    return ByteSpan{base - tail, base + size - 1};
  }
  if (base > UINT64_MAX - tail - (size - 1)) {
    return std::nullopt;
  }
  return ByteSpan{base, base + tail + size - 1};
}

Sbdf config_sbdf(uint64_t addr) {
  return Sbdf{static_cast<uint16_t>(addr >> 48), static_cast<uint8_t>(addr >> 40),
              static_cast<uint8_t>((addr >> 35) & 0x1f), static_cast<uint8_t>((addr >> 32) & 7)};
}

std::optional<Refusal> validate_request(const ioreq_t& req, const ClaimTable& claims, DecodedRequest& out) {
  out = DecodedRequest{};
  out.type = req.type;
  out.read = req.dir == IOREQ_READ;
  out.df = req.df != 0;
  out.data_is_ptr = req.data_is_ptr != 0;
  out.addr = req.addr;
  out.data = req.data;

  switch (req.type) {
    case IOREQ_TYPE_INVALIDATE:
    case IOREQ_TYPE_TIMEOFFSET:
      return std::nullopt;  // no address, nothing to bound; answered without touching a device
    case IOREQ_TYPE_PIO:
    case IOREQ_TYPE_COPY:
    case IOREQ_TYPE_PCI_CONFIG:
      break;
    default:
      return Refusal::BadType;
  }

  const uint32_t size = req.size;
  if (size != 1 && size != 2 && size != 4 && size != 8) {
    return Refusal::BadSize;
  }
  if (size == 8 && req.type != IOREQ_TYPE_COPY) {
    return Refusal::BadSize;
  }
  out.size = static_cast<uint8_t>(size);

  // A value (not a pointer) is one item; reps always come with a guest buffer.
  if (req.count == 0 || (!out.data_is_ptr && req.count != 1)) {
    return Refusal::BadCount;
  }
  if (uint64_t{req.count} * size > kMaxRepBytes) {
    return Refusal::BadCount;
  }
  out.count = req.count;

  if (out.data_is_ptr && !rep_span(req.data, req.count, out.size, out.df)) {
    return Refusal::BadBuffer;
  }

  switch (req.type) {
    case IOREQ_TYPE_PIO: {
      // A rep string I/O hits the same port for every item.
      if (req.addr > 0xffff || req.addr + size - 1 > 0xffff) {
        return Refusal::BadAddress;
      }
      if (!claims.contains(gpu::IoSpace::Port, req.addr, req.addr + size - 1)) {
        return Refusal::Unclaimed;
      }
      return std::nullopt;
    }
    case IOREQ_TYPE_COPY: {
      const auto span = rep_span(req.addr, req.count, out.size, out.df);
      if (!span) {
        return Refusal::BadAddress;
      }
      if (!claims.contains(gpu::IoSpace::Mmio, span->first, span->last)) {
        return Refusal::Unclaimed;
      }
      return std::nullopt;
    }
    default: {  // PCI_CONFIG
      const uint64_t reg = config_register(req.addr);
      if (reg + size > kConfigSpaceLimit) {
        return Refusal::BadAddress;
      }
      out.sbdf = config_sbdf(req.addr);
      out.addr = reg;
      if (!claims.contains_pci(out.sbdf)) {
        return Refusal::Unclaimed;
      }
      return std::nullopt;
    }
  }
}

}  // namespace xvgpu::ioreq
