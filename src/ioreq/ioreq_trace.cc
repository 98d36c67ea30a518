#include "ioreq/ioreq_trace.h"

#include <fmt/format.h>

#include <array>
#include <sstream>

#include "common/error.h"

namespace xvgpu::ioreq {

namespace {

constexpr std::array<std::pair<uint8_t, const char*>, 5> kTypes{{{IOREQ_TYPE_PIO, "pio"},
                                                                 {IOREQ_TYPE_COPY, "mmio"},
                                                                 {IOREQ_TYPE_PCI_CONFIG, "pci"},
                                                                 {IOREQ_TYPE_TIMEOFFSET, "timeoffset"},
                                                                 {IOREQ_TYPE_INVALIDATE, "invalidate"}}};

std::string type_name(uint8_t type) {
  for (const auto& [t, name] : kTypes) {
    if (t == type) {
      return name;
    }
  }
  return fmt::format("type{}", type);
}

uint8_t type_from(const std::string& s) {
  for (const auto& [t, name] : kTypes) {
    if (s == name) {
      return t;
    }
  }
  if (s.rfind("type", 0) == 0) {
    return static_cast<uint8_t>(std::stoul(s.substr(4)));
  }
  throw Error("unknown request type '" + s + "'");
}

std::string verdict_name(std::optional<Refusal> r) {
  if (!r) {
    return "served";
  }
  std::string s = to_string(*r);
  for (char& c : s) {
    if (c == ' ') {
      c = '-';
    }
  }
  return "refused:" + s;
}

std::optional<Refusal> verdict_from(const std::string& s) {
  if (s == "served") {
    return std::nullopt;
  }
  for (int r = 0; r < static_cast<int>(Refusal::kCount); ++r) {
    if (verdict_name(static_cast<Refusal>(r)) == s) {
      return static_cast<Refusal>(r);
    }
  }
  throw Error("unknown verdict '" + s + "'");
}

}  // namespace

TracedShape shape_of(Channel channel, const ioreq_t& req, std::optional<Refusal> refusal) {
  TracedShape s;
  s.channel = channel;
  s.type = req.type;
  s.dir = req.dir;
  s.data_is_ptr = req.data_is_ptr;
  s.df = req.df;
  s.size = req.size;
  s.count = req.count;
  s.addr = req.addr;
  s.buffer_offset = req.data_is_ptr ? static_cast<uint16_t>(req.data % 4096) : 0;
  s.refusal = refusal;
  return s;
}

// e.g. "sync mmio write size=2 count=4 ptr=0 df=1 addr=0xf1000506 bufoff=0x0 served n=3"
std::string format_shape(const TracedShape& s, uint64_t occurrences) {
  return fmt::format("{} {} {} size={} count={} ptr={} df={} addr={:#x} bufoff={:#x} {} n={}",
                     s.channel == Channel::Sync ? "sync" : "buffered", type_name(s.type),
                     s.dir == IOREQ_READ ? "read" : "write", s.size, s.count, s.data_is_ptr, s.df, s.addr,
                     s.buffer_offset, verdict_name(s.refusal), occurrences);
}

std::pair<TracedShape, uint64_t> parse_shape(const std::string& line) {
  std::istringstream in(line);
  std::string channel, type, dir, verdict;
  std::array<std::string, 7> fields;
  in >> channel >> type >> dir;
  for (size_t i = 0; i < 6; ++i) {
    in >> fields[i];
  }
  in >> verdict >> fields[6];
  if (!in || (channel != "sync" && channel != "buffered") || (dir != "read" && dir != "write")) {
    throw Error("malformed trace line '" + line + "'");
  }
  const auto value = [&](size_t i, const char* key) -> uint64_t {
    const std::string prefix = std::string(key) + "=";
    if (fields[i].rfind(prefix, 0) != 0) {
      throw Error("trace line '" + line + "': expected " + prefix);
    }
    return std::stoull(fields[i].substr(prefix.size()), nullptr, 0);
  };
  TracedShape s;
  s.channel = channel == "sync" ? Channel::Sync : Channel::Buffered;
  s.type = type_from(type);
  s.dir = dir == "read" ? IOREQ_READ : IOREQ_WRITE;
  s.size = static_cast<uint32_t>(value(0, "size"));
  s.count = static_cast<uint32_t>(value(1, "count"));
  s.data_is_ptr = static_cast<uint8_t>(value(2, "ptr"));
  s.df = static_cast<uint8_t>(value(3, "df"));
  s.addr = value(4, "addr");
  s.buffer_offset = static_cast<uint16_t>(value(5, "bufoff"));
  s.refusal = verdict_from(verdict);
  return {s, value(6, "n")};
}

void IoreqTrace::record(Channel channel, const ioreq_t& req, std::optional<Refusal> refusal) noexcept {
  const TracedShape s = shape_of(channel, req, refusal);
  const std::lock_guard lock(mu_);
  const auto it = shapes_.find(s);
  if (it != shapes_.end()) {
    ++it->second;
  } else if (shapes_.size() < max_shapes_) {
    try {
      shapes_.emplace(s, 1);
    } catch (...) {
      ++dropped_;
    }
  } else {
    ++dropped_;
  }
}

std::vector<std::pair<TracedShape, uint64_t>> IoreqTrace::shapes() const {
  const std::lock_guard lock(mu_);
  return {shapes_.begin(), shapes_.end()};
}

uint64_t IoreqTrace::dropped() const {
  const std::lock_guard lock(mu_);
  return dropped_;
}

void IoreqTrace::write(std::FILE* out) const {
  const std::lock_guard lock(mu_);
  std::fprintf(out, "# xvgpu ioreq trace v1: %zu shapes\n", shapes_.size());
  for (const auto& [s, n] : shapes_) {
    std::fprintf(out, "%s\n", format_shape(s, n).c_str());
  }
  std::fprintf(out, "# not kept: %llu requests\n", static_cast<unsigned long long>(dropped_));
  std::fflush(out);
}

}  // namespace xvgpu::ioreq
