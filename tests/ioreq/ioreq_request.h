// An ioreq_t as Xen fills a vCPU's slot (state left to the caller), for the frontend's tests.
#pragma once

#include <cstdint>

// clang-format off
extern "C" {
#include <xen/xen.h>
#include <xen/hvm/ioreq.h>
}
// clang-format on

namespace xvgpu::ioreq::testing {

inline ioreq_t make_ioreq(uint8_t type, uint64_t addr, uint32_t size, uint32_t count, bool read, bool ptr,
                          bool df, uint64_t data) {
  ioreq_t r{};
  r.type = type;
  r.addr = addr;
  r.size = size;
  r.count = count;
  r.dir = read ? IOREQ_READ : IOREQ_WRITE;
  r.data_is_ptr = ptr ? 1 : 0;
  r.df = df ? 1 : 0;
  r.data = data;
  return r;
}

}  // namespace xvgpu::ioreq::testing
