// Checks one ioreq, already copied out of the shared page, before anything acts on it.
//
// The request page is shared with Xen and the values in it are guest-controlled (address,
// size, count, data pointer): every field is bounded here (XSA-197/199/238 lessons), and
// only a request that passes reaches a device or guest memory. What passes is exactly the set
// of shapes Xen 4.17 produces (docs/ioreq-conformance.md); anything else is refused.
#pragma once

#include <cstdint>
#include <optional>

// clang-format off
extern "C" {
#include <xen/xen.h>
#include <xen/hvm/ioreq.h>
}
// clang-format on

#include "common/types.h"
#include "ioreq/claim_table.h"
#include "ioreq/ioreq_stats.h"

namespace xvgpu::ioreq {

// Xen caps reps at 4096 and clips every rep at the page of its MMIO range and of its guest
// buffer (emulate.c: hvmemul_linear_to_phys, hvmemul_do_io, hvmemul_do_io_addr), so a rep
// never moves more than one page.
inline constexpr uint32_t kMaxRepBytes = 4096;
inline constexpr uint64_t kRepPageSize = 4096;
// PCI_CONFIG register offsets: 4.17 delivers at most the 4 KiB extended space.
inline constexpr uint64_t kConfigSpaceLimit = 4096;

// A request that passed validation, with the fields decoded.
struct DecodedRequest {
  uint8_t type = 0;
  bool read = false;
  bool df = false;
  bool data_is_ptr = false;
  uint8_t size = 0;
  uint32_t count = 0;
  uint64_t addr = 0;  // port, guest-physical address, or config register (PCI_CONFIG)
  uint64_t data = 0;  // the value to write, or the guest-physical buffer if data_is_ptr
  Sbdf sbdf{};        // PCI_CONFIG only
};

// The lowest and highest byte touched by `count` items of `size` bytes starting at `base`,
// walking down when df. nullopt when that wraps around the 64-bit space.
struct ByteSpan {
  uint64_t first;
  uint64_t last;
};
[[nodiscard]] std::optional<ByteSpan> rep_span(uint64_t base, uint32_t count, uint8_t size, bool df);

// How a request reached the server: a vCPU's slot (Xen waits for the answer) or the buffered
// ring (nobody waits). Xen sends different request classes through each.
enum class Channel : uint8_t { Sync, Buffered };

// Validates `req` against the claims; fills `out` and returns nullopt when it may be served,
// or the reason for refusing it.
[[nodiscard]] std::optional<Refusal> validate_request(const ioreq_t& req, Channel channel,
                                                      const ClaimTable& claims, DecodedRequest& out);

// The SBDF and register encoded in a PCI_CONFIG address (SEG[63:48] BUS[47:40] DEV[39:35]
// FN[34:32] REG[31:0]).
[[nodiscard]] Sbdf config_sbdf(uint64_t addr);
[[nodiscard]] inline uint64_t config_register(uint64_t addr) {
  return addr & 0xffffffffu;
}

}  // namespace xvgpu::ioreq
