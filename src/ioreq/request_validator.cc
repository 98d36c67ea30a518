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

namespace {

// Whether [span.first, span.last] stays inside one 4 KiB page.
bool within_one_page(const ByteSpan& span) {
  return span.first / kRepPageSize == span.last / kRepPageSize;
}

// The request classes Xen 4.17 sends on each channel: synchronously PIO, COPY and PCI_CONFIG
// (hvmemul_do_io, ioreq_server_select) and INVALIDATE (ioreq_signal_mapcache_invalidate); through
// the buffered ring only stdvga's MMIO writes and TIMEOFFSET (send_timeoffset_req).
std::optional<Refusal> check_type(const ioreq_t& req, Channel channel) {
  if (channel == Channel::Buffered) {
    const bool vga_write = req.type == IOREQ_TYPE_COPY && req.dir == IOREQ_WRITE;
    return vga_write || req.type == IOREQ_TYPE_TIMEOFFSET ? std::nullopt
                                                          : std::optional{Refusal::BadBuffered};
  }
  switch (req.type) {
    case IOREQ_TYPE_PIO:
    case IOREQ_TYPE_COPY:
    case IOREQ_TYPE_PCI_CONFIG:
    case IOREQ_TYPE_INVALIDATE:
      return std::nullopt;
    default:
      return Refusal::BadType;
  }
}

// count and data_is_ptr as Xen combines them: a value (data_is_ptr 0) is one item, except for
// `rep stos` into MMIO, which writes the value count times (hvmemul_rep_stos); a rep never
// moves more than one page of MMIO or of guest buffer, except a single item straddling two.
std::optional<Refusal> check_count(const ioreq_t& req, const DecodedRequest& d) {
  if (req.count == 0 || uint64_t{req.count} * d.size > kMaxRepBytes) {
    return Refusal::BadCount;
  }
  if (!d.data_is_ptr && req.count > 1 && !(req.type == IOREQ_TYPE_COPY && !d.read)) {
    return Refusal::BadCount;
  }
  if (d.data_is_ptr) {
    const auto buffer = rep_span(req.data, req.count, d.size, d.df);
    if (!buffer) {
      return Refusal::BadBuffer;
    }
    if (req.count > 1 && !within_one_page(*buffer)) {
      return Refusal::CrossesPage;
    }
  }
  return std::nullopt;
}

}  // namespace

std::optional<Refusal> validate_request(const ioreq_t& req, Channel channel, const ClaimTable& claims,
                                        DecodedRequest& out) {
  out = DecodedRequest{};
  out.type = req.type;
  out.read = req.dir == IOREQ_READ;
  out.df = req.df != 0;
  out.data_is_ptr = req.data_is_ptr != 0;
  out.addr = req.addr;
  out.data = req.data;

  if (const auto why = check_type(req, channel)) {
    return why;
  }
  if (req.type == IOREQ_TYPE_INVALIDATE) {
    return std::nullopt;  // no address or count (Xen sends count 0); answered without a device
  }
  if (req.type == IOREQ_TYPE_TIMEOFFSET) {
    // Ring entries carry no data pointer or count; the dispatcher never lets them reach a device.
    return req.size == 8 && req.dir == IOREQ_WRITE ? std::nullopt : std::optional{Refusal::BadBuffered};
  }

  const uint32_t size = req.size;
  if (size != 1 && size != 2 && size != 4 && size != 8) {
    return Refusal::BadSize;
  }
  if (size == 8 && req.type != IOREQ_TYPE_COPY) {
    return Refusal::BadSize;
  }
  out.size = static_cast<uint8_t>(size);
  if (channel == Channel::Buffered && (out.data_is_ptr || req.count != 1)) {
    return Refusal::BadBuffered;
  }
  if (const auto why = check_count(req, out)) {
    return why;
  }
  out.count = req.count;

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
      if (req.count > 1 && !within_one_page(*span)) {
        return Refusal::CrossesPage;
      }
      if (!claims.contains(gpu::IoSpace::Mmio, span->first, span->last)) {
        return Refusal::Unclaimed;
      }
      return std::nullopt;
    }
    default: {  // PCI_CONFIG: a CFC access, repeated on the same register by rep ins/outs
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
