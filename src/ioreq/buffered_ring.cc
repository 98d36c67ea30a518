#include "ioreq/buffered_ring.h"

#include <atomic>
#include <cstring>

#include "ioreq/barriers.h"

namespace xvgpu::ioreq {

namespace {
buf_ioreq_t load_slot(const buffered_iopage_t* page, uint32_t index) {
  buf_ioreq_t slot;
  std::memcpy(&slot, &page->buf_ioreq[index % IOREQ_BUFFER_SLOT_NUM], sizeof slot);
  return slot;
}
}  // namespace

BufferedRing::Pop BufferedRing::pop(ioreq_t& out) {
  std::atomic_ref<uint32_t> read_ptr(page_->read_pointer);
  std::atomic_ref<uint32_t> write_ptr(page_->write_pointer);
  uint32_t rp = 0;
  uint32_t wp = 0;
  // Xen may canonicalise (subtract a multiple of 511 from both) between our two loads.
  for (;;) {
    rp = read_ptr.load(std::memory_order_relaxed);
    read_barrier();
    wp = write_ptr.load(std::memory_order_relaxed);
    read_barrier();
    if (read_ptr.load(std::memory_order_relaxed) == rp) {
      break;
    }
  }
  if (rp == wp) {
    return Pop::Empty;
  }
  const uint32_t avail = wp - rp;
  if (avail > IOREQ_BUFFER_SLOT_NUM) {
    // Impossible from a correct Xen; skip everything rather than parse garbage forever.
    read_ptr.fetch_add(avail, std::memory_order_seq_cst);
    return Pop::Malformed;
  }

  const buf_ioreq_t lo = load_slot(page_, rp);
  uint32_t slots = 1;
  uint64_t data = lo.data;
  const uint32_t size = 1u << lo.size;
  if (size == 8) {
    // Xen publishes both halves before moving the write pointer by two.
    if (avail < 2) {
      return Pop::Empty;
    }
    const buf_ioreq_t hi = load_slot(page_, rp + 1);
    data |= uint64_t{hi.data} << 32;
    slots = 2;
  }
  read_barrier();  // finish reading the slots before handing them back to Xen

  std::memset(&out, 0, sizeof out);
  out.addr = lo.addr;
  out.data = data;
  out.count = 1;
  out.size = size;
  out.state = STATE_IOREQ_READY;
  out.dir = lo.dir;
  out.type = lo.type;
  read_ptr.fetch_add(slots, std::memory_order_seq_cst);
  return Pop::Request;
}

}  // namespace xvgpu::ioreq
