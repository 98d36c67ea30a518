// Engine descriptors as the tests' guests write them into the ring.
#pragma once

#include <cstdint>

#include "vendor/simgpu/engine_interface.h"

namespace xvgpu::simgpu::test {

// One row of len bytes from src to dst (op: a copy opcode); with an MSI on completion when irq.
inline engine::Descriptor linear_copy(uint32_t op, uint64_t src, uint64_t dst, uint32_t len, uint32_t seq,
                                      bool irq) {
  engine::Descriptor d{};
  d.opcode = op;
  d.flags = irq ? engine::kFlagIrq : 0;
  d.seqno = seq;
  d.src = src;
  d.dst = dst;
  d.width = len;
  d.height = 1;
  return d;
}

}  // namespace xvgpu::simgpu::test
