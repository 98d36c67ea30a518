// Small stand-ins for the tests of the Xen frontend: a register-file device (IoHandler) and
// a guest memory backed by a vector.
#pragma once

#include <atomic>
#include <cstring>
#include <map>
#include <mutex>
#include <set>
#include <tuple>
#include <vector>

#include "gpu/io_handler.h"
#include "gpu/platform.h"

namespace xvgpu::ioreq::testing {

// Remembers every write per (space, sbdf, addr, size) and answers reads with the last value
// written there, or with a pattern derived from the address when never written.
class RegisterFile : public gpu::IoHandler {
 public:
  struct Access {
    gpu::IoAccess access;
    bool write;
    uint64_t value;
  };

  static uint64_t pattern(uint64_t addr, uint8_t size) {
    const uint64_t v = 0xA5A5000000000000ull ^ (addr * 0x9E3779B97F4A7C15ull);
    return size >= 8 ? v : v & ((uint64_t{1} << (8 * size)) - 1);
  }

  uint64_t read(const gpu::IoAccess& a) noexcept override {
    std::lock_guard lock(mu_);
    uint64_t v = pattern(a.addr, a.size);
    if (auto it = regs_.find(key(a)); it != regs_.end()) v = it->second;
    log_.push_back({a, false, v});
    return v;
  }
  void write(const gpu::IoAccess& a, uint64_t value) noexcept override {
    std::lock_guard lock(mu_);
    regs_[key(a)] = value;
    log_.push_back({a, true, value});
  }

  std::vector<Access> log() {
    std::lock_guard lock(mu_);
    return log_;
  }
  void clear_log() {
    std::lock_guard lock(mu_);
    log_.clear();
  }

 private:
  using Key = std::tuple<int, uint16_t, uint64_t, uint64_t>;
  static Key key(const gpu::IoAccess& a) { return {static_cast<int>(a.space), a.sbdf.bdf(), a.addr, a.size}; }
  std::mutex mu_;
  std::map<Key, uint64_t> regs_;
  std::vector<Access> log_;
};

// Guest RAM [0, size) with optional holes (pages that are not RAM).
class VectorMemory : public gpu::GuestMemory {
 public:
  class Mapping : public gpu::GuestMapping {
   public:
    Mapping(std::span<std::byte> b, uint64_t gpa, bool w) : bytes_(b), gpa_(gpa), writable_(w) {}
    std::span<std::byte> bytes() override { return bytes_; }
    [[nodiscard]] uint64_t gpa() const override { return gpa_; }
    [[nodiscard]] bool writable() const override { return writable_; }

   private:
    std::span<std::byte> bytes_;
    uint64_t gpa_;
    bool writable_;
  };

  explicit VectorMemory(size_t size) : ram(size) {}
  std::vector<std::byte> ram;
  std::set<uint64_t> holes;  // page numbers
  int writes = 0;

  void read(uint64_t gpa, std::span<std::byte> out) override {
    check(gpa, out.size());
    std::memcpy(out.data(), ram.data() + gpa, out.size());
  }
  void write(uint64_t gpa, std::span<const std::byte> in) override {
    check(gpa, in.size());
    std::memcpy(ram.data() + gpa, in.data(), in.size());
    ++writes;
  }
  std::unique_ptr<gpu::GuestMapping> map(uint64_t gpa, uint64_t len, bool writable) override {
    check(gpa, len);
    ++maps;
    return std::make_unique<Mapping>(std::span(ram).subspan(gpa, len), gpa, writable);
  }
  int maps = 0;

 private:
  void check(uint64_t gpa, size_t len) const {
    if (gpa > ram.size() || len > ram.size() - gpa) throw gpu::GuestMemoryError(gpa, "outside RAM");
    for (uint64_t p = gpa >> 12; len != 0 && p <= (gpa + len - 1) >> 12; ++p)
      if (holes.contains(p)) throw gpu::GuestMemoryError(p << 12, "hole");
  }
};

}  // namespace xvgpu::ioreq::testing
