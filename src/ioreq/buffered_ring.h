// The consumer side of Xen's buffered ioreq ring (HVM_IOREQSRV_BUFIOREQ_ATOMIC).
//
// Xen posts write-only accesses here without waiting for us: 511 eight-byte slots between
// a read and a write pointer; an 8-byte access takes two consecutive slots (low half, then
// high half; the pair may wrap from slot 510 to slot 0). Xen canonicalises both pointers
// with a 64-bit cmpxchg, so the read pointer is only ever advanced with an atomic add, and
// both pointers are re-read until consistent.
#pragma once

#include <cstddef>
#include <cstdint>

// clang-format off
extern "C" {
#include <xen/xen.h>
#include <xen/hvm/ioreq.h>
}
// clang-format on

namespace xvgpu::ioreq {

class BufferedRing {
 public:
  explicit BufferedRing(buffered_iopage_t* page) : page_(page) {}

  enum class Pop {
    Empty,      // nothing (complete) to consume
    Request,    // `out` holds the next access, already consumed from the ring
    Malformed,  // the pointers were inconsistent: the ring was skipped to the write pointer
  };
  // Copies the next entry once into `out` (as a single-item ioreq_t in state READY) and
  // advances the read pointer past it.
  Pop pop(ioreq_t& out);

 private:
  buffered_iopage_t* page_;
};

}  // namespace xvgpu::ioreq
