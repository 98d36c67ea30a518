// The buffered ioreq ring: the whole page (both pointers and all 511 slots) is guest/Xen
// controlled memory. Popping must terminate, consume exactly the slots it reports, never move
// the read pointer past the write pointer, and hand out only single, sized, write-shaped items.
#include <cstdint>
#include <cstring>
#include <memory>

#include "fuzz_input.h"
#include "ioreq/buffered_ring.h"

namespace {

struct alignas(4096) Page {
  std::byte bytes[4096];
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using xvgpu::fuzz::violation;
  static auto page = std::make_unique<Page>();
  xvgpu::fuzz::FuzzInput in(data, size);
  auto* iop = reinterpret_cast<buffered_iopage_t*>(page->bytes);
  std::memset(page->bytes, 0, sizeof page->bytes);
  // Pointers first (often close together, as Xen keeps them), then as many slots as given.
  const uint32_t rp = in.u32();
  const uint8_t mode = in.u8();
  uint32_t wp = (mode & 1) != 0 ? in.u32() : rp + (in.u16() % 600);
  iop->read_pointer = rp;
  iop->write_pointer = wp;
  const size_t slots = in.remaining() / sizeof(buf_ioreq_t);
  std::memcpy(iop->buf_ioreq, data + (size - in.remaining()),
              std::min(slots, size_t{IOREQ_BUFFER_SLOT_NUM}) * sizeof(buf_ioreq_t));

  xvgpu::ioreq::BufferedRing ring(iop);
  for (unsigned i = 0;; ++i) {
    if (i > IOREQ_BUFFER_SLOT_NUM + 1) violation("ring never drained");
    const uint32_t before = iop->read_pointer;
    ioreq_t out;
    const auto r = ring.pop(out);
    const uint32_t moved = iop->read_pointer - before;
    if (r == xvgpu::ioreq::BufferedRing::Pop::Empty) {
      if (moved != 0) violation("Empty moved the read pointer");
      break;
    }
    if (r == xvgpu::ioreq::BufferedRing::Pop::Malformed) {
      if (iop->read_pointer != iop->write_pointer) violation("Malformed did not skip to the write pointer");
      break;
    }
    if (moved != 1 && moved != 2) violation("a request consumed neither 1 nor 2 slots");
    if ((moved == 2) != (out.size == 8)) violation("slot count does not match the size");
    if (wp - before < moved) violation("read pointer passed the write pointer");
    if (out.count != 1 || out.data_is_ptr != 0 || out.df != 0) violation("not a single item");
    if (out.size != 1 && out.size != 2 && out.size != 4 && out.size != 8) violation("bad size");
    if (out.addr > 0xfffff) violation("address wider than 20 bits");
    wp = iop->write_pointer;
  }
  return 0;
}
