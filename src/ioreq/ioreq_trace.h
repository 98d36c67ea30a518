// A record of the request shapes Xen sent this device model, and what the dispatcher made of
// each: the evidence that the frontend and xensim read Xen alike (docs/ioreq-conformance.md).
//
// Off unless FrontendOptions::trace is set. Each distinct shape (channel, type, direction,
// size, count, data_is_ptr, df, address, the buffer's page offset, verdict) is kept once with
// the number of times it occurred; values are not kept. At most `max_shapes` shapes are kept,
// later new shapes are only counted, so a guest cannot grow it without bound.
#pragma once

#include <cstdint>
#include <cstdio>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <tuple>
#include <vector>

// clang-format off
extern "C" {
#include <xen/xen.h>
#include <xen/hvm/ioreq.h>
}
// clang-format on

#include "ioreq/ioreq_stats.h"
#include "ioreq/request_validator.h"

namespace xvgpu::ioreq {

struct TracedShape {
  Channel channel = Channel::Sync;
  uint8_t type = 0;
  uint8_t dir = 0;
  uint8_t data_is_ptr = 0;
  uint8_t df = 0;
  uint32_t size = 0;
  uint32_t count = 0;
  uint64_t addr = 0;
  uint16_t buffer_offset = 0;        // data % 4096 when data_is_ptr, else 0
  std::optional<Refusal> refusal{};  // nullopt: served
  auto key() const {
    return std::tuple(channel, type, dir, data_is_ptr, df, size, count, addr, buffer_offset,
                      refusal ? static_cast<int>(*refusal) : -1);
  }
  bool operator<(const TracedShape& o) const { return key() < o.key(); }
  bool operator==(const TracedShape& o) const { return key() == o.key(); }
};

// One line of the trace file (no trailing newline), and back. parse throws Error naming the
// problem.
[[nodiscard]] std::string format_shape(const TracedShape& s, uint64_t occurrences);
[[nodiscard]] std::pair<TracedShape, uint64_t> parse_shape(const std::string& line);
[[nodiscard]] TracedShape shape_of(Channel channel, const ioreq_t& req, std::optional<Refusal> refusal);

class IoreqTrace {
 public:
  explicit IoreqTrace(size_t max_shapes = 4096) : max_shapes_(max_shapes) {}

  // From the serving thread; never throws.
  void record(Channel channel, const ioreq_t& req, std::optional<Refusal> refusal) noexcept;

  [[nodiscard]] std::vector<std::pair<TracedShape, uint64_t>> shapes() const;
  [[nodiscard]] uint64_t dropped() const;
  // The whole trace: a header line, one line per shape, a closing line with the count of
  // requests whose shape was not kept.
  void write(std::FILE* out) const;

 private:
  const size_t max_shapes_;
  mutable std::mutex mu_;
  std::map<TracedShape, uint64_t> shapes_;
  uint64_t dropped_ = 0;
};

}  // namespace xvgpu::ioreq
