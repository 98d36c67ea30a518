// A fake gpu::Platform for unit tests of the vGPU core and of vendors: guest RAM in a vector,
// an interrupt recorder, a range-claims recorder that insists on balanced, non-overlapping
// claims, and direct memory regions that remember where the guest placed them.
// Thread-safe where the core may call from several threads (interrupts, claims, dirty log).
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "common/zeroed_memory.h"
#include "gpu/platform.h"

namespace xvgpu::test {

class FakeGuestMemory : public gpu::GuestMemory {
 public:
  // Guest RAM [base, base + size).
  explicit FakeGuestMemory(uint64_t size = uint64_t{16} << 20, uint64_t base = 0);
  void read(uint64_t gpa, std::span<std::byte> out) override;
  void write(uint64_t gpa, std::span<const std::byte> in) override;
  std::unique_ptr<gpu::GuestMapping> map(uint64_t gpa, uint64_t len, bool writable) override;
  [[nodiscard]] bool may_hold(uint64_t gpa, uint64_t len) const noexcept override;

  // Direct access for the test itself (no dirty logging, bounds-checked).
  std::span<std::byte> bytes(uint64_t gpa, uint64_t len);
  // Pages reported dirty by write() or released writable mappings.
  [[nodiscard]] std::set<uint64_t> dirty_pages() const;
  [[nodiscard]] size_t live_mappings() const;
  // Makes [gpa, gpa+len) unbacked: accesses throw GuestMemoryError.
  void add_hole(uint64_t gpa, uint64_t len);

 private:
  friend class FakeGuestMapping;
  void check(uint64_t gpa, uint64_t len) const;
  [[nodiscard]] bool in_ram(uint64_t gpa, uint64_t len) const noexcept;
  void mark_dirty(uint64_t gpa, uint64_t len);

  uint64_t base_;
  ZeroedMemory ram_;
  mutable std::mutex mu_;
  std::set<uint64_t> dirty_;
  std::vector<std::pair<uint64_t, uint64_t>> holes_;
  size_t live_mappings_ = 0;
};

struct RecordedMsi {
  uint64_t addr = 0;
  uint32_t data = 0;
  constexpr bool operator==(const RecordedMsi&) const = default;
};

class FakeInterruptSink : public gpu::InterruptSink {
 public:
  void inject_msi(uint64_t addr, uint32_t data) override;
  void set_intx_level(Sbdf sbdf, unsigned pin, bool asserted) override;

  [[nodiscard]] std::vector<RecordedMsi> msis() const;
  [[nodiscard]] size_t msi_count() const;
  // Waits until at least n MSIs were injected (false on timeout).
  bool wait_for_msis(size_t n, std::chrono::milliseconds timeout = std::chrono::seconds(5));
  [[nodiscard]] bool intx(Sbdf sbdf, unsigned pin = 0) const;
  [[nodiscard]] size_t intx_changes() const;
  void clear();

 private:
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::vector<RecordedMsi> msis_;
  std::map<std::pair<Sbdf, unsigned>, bool> intx_;
  size_t intx_changes_ = 0;
};

class FakeRangeClaims : public gpu::RangeClaims {
 public:
  enum class Op : uint8_t { ClaimPci, ReleasePci, ClaimRange, ReleaseRange };
  struct Event {
    Op op{};
    gpu::IoSpace space{};
    uint64_t first = 0;
    uint64_t last = 0;
    Sbdf sbdf{};
  };
  struct Range {
    gpu::IoSpace space{};
    uint64_t first = 0;
    uint64_t last = 0;
    auto operator<=>(const Range&) const = default;
  };

  // Unbalanced or overlapping claims and ports above 0xffff throw std::logic_error (and are
  // recorded as violations), as Xen would refuse them.
  void claim_pci(Sbdf sbdf) override;
  void release_pci(Sbdf sbdf) override;
  void claim_range(gpu::IoSpace space, uint64_t first, uint64_t last) override;
  void release_range(gpu::IoSpace space, uint64_t first, uint64_t last) override;

  [[nodiscard]] std::vector<Event> events() const;
  [[nodiscard]] std::set<Range> ranges() const;
  [[nodiscard]] std::set<Sbdf> pcis() const;
  [[nodiscard]] size_t violations() const;
  // The next claim_range fails with Error (platform refusal).
  void fail_next_claim();
  void clear_events();

 private:
  mutable std::mutex mu_;
  std::vector<Event> events_;
  std::set<Range> ranges_;
  std::set<Sbdf> pcis_;
  size_t violations_ = 0;
  bool fail_next_ = false;
};

class FakeDirectRegion : public gpu::DirectRegion {
 public:
  explicit FakeDirectRegion(uint64_t size) : mem_(size) {}
  std::span<std::byte> host() override { return mem_.bytes(); }
  void place(uint64_t gpa) override;
  void unplace() override;
  void collect_dirty(std::vector<uint64_t>& bitmap) override;
  void device_wrote(uint64_t offset, uint64_t len) noexcept override;

  [[nodiscard]] std::optional<uint64_t> placed() const;
  // Pages the device reported writing (device_wrote), cleared by the call.
  [[nodiscard]] std::set<uint64_t> take_device_written();
  [[nodiscard]] unsigned placements() const;
  // Marks a page dirty, as a guest write through the direct mapping would.
  void touch(uint64_t page);

 private:
  ZeroedMemory mem_;
  mutable std::mutex mu_;
  std::optional<uint64_t> placed_;
  unsigned placements_ = 0;
  std::set<uint64_t> dirty_;
  std::set<uint64_t> device_written_;
};

class FakeDirectMemory : public gpu::DirectMemory {
 public:
  std::unique_ptr<gpu::DirectRegion> allocate(uint64_t size) override;
  [[nodiscard]] bool saved_with_guest_memory() const override { return saved_with_guest; }
  // Regions allocated and still alive (the core owns them).
  [[nodiscard]] std::vector<FakeDirectRegion*> regions() const;
  [[nodiscard]] size_t live() const;
  // Called by a region when the core frees it.
  void forget(FakeDirectRegion* r);

  // As Xen's VRAM pool: the guest's memory image carries the regions' contents.
  bool saved_with_guest = false;

 private:
  mutable std::mutex mu_;
  std::vector<FakeDirectRegion*> regions_;
};

// Everything together, for one domain.
struct FakePlatform {
  explicit FakePlatform(Domid domid = Domid{1}, uint64_t ram = uint64_t{16} << 20);
  // with_direct=false: no DirectMemory, so the core serves direct BARs by trapping.
  [[nodiscard]] gpu::Platform platform(bool with_direct = true);

  Domid domid;
  FakeGuestMemory memory;
  FakeInterruptSink interrupts;
  FakeRangeClaims claims;
  FakeDirectMemory direct;
};

}  // namespace xvgpu::test
