// ioreq decoding, validation and dispatch: the input is raw ioreq_t slots exactly as a hostile
// guest (through Xen) could leave them in the shared page. Each one is validated against a
// fixed set of claims and then served; the IoHandler checks that nothing unclaimed, oversized
// or out of the config space ever reaches a device, and that reps stay within one page.
#include <cstdint>
#include <cstring>

#include "fuzz_input.h"
#include "ioreq/claim_table.h"
#include "ioreq/request_dispatcher.h"
#include "ioreq/request_validator.h"
#include "support/fake_platform.h"

namespace {

using namespace xvgpu;
namespace xio = xvgpu::ioreq;

constexpr uint64_t kPortFirst = 0x3c0, kPortLast = 0x3df;
constexpr uint64_t kMmioFirst = 0xfe000000, kMmioLast = 0xfe001fff;
const Sbdf kSlot{0, 0, 4, 0};

struct CheckingHandler : gpu::IoHandler {
  const xio::ClaimTable* claims = nullptr;
  uint64_t items = 0;
  void check(const gpu::IoAccess& a) {
    if (a.size != 1 && a.size != 2 && a.size != 4 && a.size != 8) fuzz::violation("bad access size");
    ++items;
    if (items > xio::kMaxRepBytes) fuzz::violation("more items than one page of reps");
    switch (a.space) {
      case gpu::AddressSpace::Port:
        if (a.size > 4 || !claims->contains(gpu::IoSpace::Port, a.addr, a.addr + a.size - 1))
          fuzz::violation("port access outside the claims");
        break;
      case gpu::AddressSpace::Mmio:
        if (a.addr > UINT64_MAX - (a.size - 1) ||
            !claims->contains(gpu::IoSpace::Mmio, a.addr, a.addr + a.size - 1))
          fuzz::violation("MMIO access outside the claims");
        break;
      case gpu::AddressSpace::PciConfig:
        if (a.size > 4 || a.addr + a.size > xio::kConfigSpaceLimit || !claims->contains_pci(a.sbdf))
          fuzz::violation("config access outside the claimed function or space");
        break;
    }
  }
  uint64_t read(const gpu::IoAccess& a) noexcept override {
    check(a);
    return a.addr * 0x9e3779b97f4a7c15ULL;
  }
  void write(const gpu::IoAccess& a, uint64_t) noexcept override { check(a); }
};

struct Fixture {
  Fixture() : memory(uint64_t{1} << 20, 0) {
    claims.add(gpu::IoSpace::Port, kPortFirst, kPortLast);
    claims.add(gpu::IoSpace::Mmio, kMmioFirst, kMmioLast);
    claims.add_pci(kSlot);
    handler.claims = &claims;
  }
  xio::ClaimTable claims;
  test::FakeGuestMemory memory;
  xio::IoreqStats stats;
  CheckingHandler handler;
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static Fixture f;
  xio::RequestDispatcher dispatcher(Domid{3}, f.claims, f.memory, f.stats);
  fuzz::FuzzInput in(data, size);
  while (!in.empty()) {
    ioreq_t req;
    const uint8_t steer = in.u8();
    in.fill(std::span(reinterpret_cast<std::byte*>(&req), sizeof req));
    // Steer a share of requests towards the claimed ranges so that validation passes often.
    if ((steer & 3) == 1) req.addr = kMmioFirst + (req.addr & 0x1fff);
    if ((steer & 3) == 2) req.addr = kPortFirst + (req.addr & 0x1f);
    if ((steer & 12) == 4) req.data &= 0xfffff;  // a buffer inside guest RAM
    if ((steer & 48) == 16) req.count &= 0x3f;

    xio::DecodedRequest d;
    const auto refusal = xio::validate_request(req, xio::Channel::Sync, f.claims, d);
    if (!refusal &&
        (req.type == IOREQ_TYPE_PIO || req.type == IOREQ_TYPE_COPY || req.type == IOREQ_TYPE_PCI_CONFIG)) {
      if (d.count == 0 || uint64_t{d.count} * d.size > xio::kMaxRepBytes)
        fuzz::violation("count not bounded");
      if (d.count > 1 && !d.data_is_ptr && (d.type != IOREQ_TYPE_COPY || d.read))
        fuzz::violation("a repeated value other than rep stos");
      if (d.count > 1 && d.type == IOREQ_TYPE_COPY) {
        const auto span = xio::rep_span(d.addr, d.count, d.size, d.df);
        if (!span || span->first / 4096 != span->last / 4096) fuzz::violation("MMIO rep across a page");
      }
    }
    f.handler.items = 0;
    if ((steer & 64) != 0) {
      req.dir = IOREQ_WRITE;
      req.count = 1;
      req.data_is_ptr = 0;
      dispatcher.serve_buffered(req, f.handler);
    } else {
      (void)dispatcher.serve(req, VcpuId{static_cast<uint32_t>(steer >> 7)}, f.handler);
    }
  }
  return 0;
}
