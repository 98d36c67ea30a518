#include "support/fake_platform.h"

#include <algorithm>
#include <cstring>
#include <stdexcept>
#include <utility>

#include <fmt/format.h>

namespace xvgpu::test {

// ---- guest memory

FakeGuestMemory::FakeGuestMemory(uint64_t size, uint64_t base) : base_(base), ram_(size) {}

bool FakeGuestMemory::in_ram(uint64_t gpa, uint64_t len) const noexcept {
  return gpa >= base_ && len <= ram_.size() && gpa - base_ <= ram_.size() - len;
}

bool FakeGuestMemory::may_hold(uint64_t gpa, uint64_t len) const noexcept {
  return in_ram(gpa, len);
}

void FakeGuestMemory::check(uint64_t gpa, uint64_t len) const {
  if (!in_ram(gpa, len)) {
    throw gpu::GuestMemoryError(gpa, fmt::format("gpa {:#x}+{:#x} is outside guest RAM", gpa, len));
  }
  std::lock_guard lock(mu_);
  for (const auto& [h, hl] : holes_) {
    if (gpa < h + hl && h < gpa + len) {
      throw gpu::GuestMemoryError(gpa, fmt::format("gpa {:#x} is not backed", gpa));
    }
  }
}

void FakeGuestMemory::mark_dirty(uint64_t gpa, uint64_t len) {
  std::lock_guard lock(mu_);
  for (uint64_t p = gpa >> kPageShift; p <= (gpa + len - 1) >> kPageShift; ++p) {
    dirty_.insert(p);
  }
}

void FakeGuestMemory::read(uint64_t gpa, std::span<std::byte> out) {
  if (out.empty()) {
    return;
  }
  check(gpa, out.size());
  std::memcpy(out.data(), ram_.bytes().data() + (gpa - base_), out.size());
}

void FakeGuestMemory::write(uint64_t gpa, std::span<const std::byte> in) {
  if (in.empty()) {
    return;
  }
  check(gpa, in.size());
  std::memcpy(ram_.bytes().data() + (gpa - base_), in.data(), in.size());
  mark_dirty(gpa, in.size());
}

class FakeGuestMapping : public gpu::GuestMapping {
 public:
  FakeGuestMapping(FakeGuestMemory& mem, uint64_t gpa, std::span<std::byte> bytes, bool writable)
      : mem_(mem), gpa_(gpa), bytes_(bytes), writable_(writable) {
    std::lock_guard lock(mem_.mu_);
    ++mem_.live_mappings_;
  }
  ~FakeGuestMapping() override {
    if (writable_) {
      mem_.mark_dirty(gpa_, bytes_.size());
    }
    std::lock_guard lock(mem_.mu_);
    --mem_.live_mappings_;
  }
  std::span<std::byte> bytes() override { return bytes_; }
  [[nodiscard]] uint64_t gpa() const override { return gpa_; }
  [[nodiscard]] bool writable() const override { return writable_; }

 private:
  FakeGuestMemory& mem_;
  uint64_t gpa_;
  std::span<std::byte> bytes_;
  bool writable_;
};

std::unique_ptr<gpu::GuestMapping> FakeGuestMemory::map(uint64_t gpa, uint64_t len, bool writable) {
  check(gpa, len);
  return std::make_unique<FakeGuestMapping>(
      *this, gpa, std::span<std::byte>(ram_.bytes().data() + (gpa - base_), len), writable);
}

std::span<std::byte> FakeGuestMemory::bytes(uint64_t gpa, uint64_t len) {
  if (gpa < base_ || len > ram_.size() || gpa - base_ > ram_.size() - len) {
    throw std::out_of_range("test RAM access");
  }
  return {ram_.bytes().data() + (gpa - base_), len};
}

std::set<uint64_t> FakeGuestMemory::dirty_pages() const {
  std::lock_guard lock(mu_);
  return dirty_;
}

size_t FakeGuestMemory::live_mappings() const {
  std::lock_guard lock(mu_);
  return live_mappings_;
}

void FakeGuestMemory::add_hole(uint64_t gpa, uint64_t len) {
  std::lock_guard lock(mu_);
  holes_.emplace_back(gpa, len);
}

// ---- interrupts

void FakeInterruptSink::inject_msi(uint64_t addr, uint32_t data) {
  {
    std::lock_guard lock(mu_);
    msis_.push_back({addr, data});
  }
  cv_.notify_all();
}

void FakeInterruptSink::set_intx_level(Sbdf sbdf, unsigned pin, bool asserted) {
  std::lock_guard lock(mu_);
  intx_[{sbdf, pin}] = asserted;
  ++intx_changes_;
}

std::vector<RecordedMsi> FakeInterruptSink::msis() const {
  std::lock_guard lock(mu_);
  return msis_;
}

size_t FakeInterruptSink::msi_count() const {
  std::lock_guard lock(mu_);
  return msis_.size();
}

bool FakeInterruptSink::wait_for_msis(size_t n, std::chrono::milliseconds timeout) {
  std::unique_lock lock(mu_);
  return cv_.wait_for(lock, timeout, [&] { return msis_.size() >= n; });
}

bool FakeInterruptSink::intx(Sbdf sbdf, unsigned pin) const {
  std::lock_guard lock(mu_);
  const auto it = intx_.find({sbdf, pin});
  return it != intx_.end() && it->second;
}

size_t FakeInterruptSink::intx_changes() const {
  std::lock_guard lock(mu_);
  return intx_changes_;
}

void FakeInterruptSink::clear() {
  std::lock_guard lock(mu_);
  msis_.clear();
  intx_changes_ = 0;
}

// ---- claims

void FakeRangeClaims::claim_pci(Sbdf sbdf) {
  std::lock_guard lock(mu_);
  events_.push_back({Op::ClaimPci, {}, 0, 0, sbdf});
  if (!pcis_.insert(sbdf).second) {
    ++violations_;
    throw std::logic_error("PCI " + sbdf.to_string() + " claimed twice");
  }
}

void FakeRangeClaims::release_pci(Sbdf sbdf) {
  std::lock_guard lock(mu_);
  events_.push_back({Op::ReleasePci, {}, 0, 0, sbdf});
  if (pcis_.erase(sbdf) == 0) {
    ++violations_;
    throw std::logic_error("PCI " + sbdf.to_string() + " released but not claimed");
  }
}

void FakeRangeClaims::claim_range(gpu::IoSpace space, uint64_t first, uint64_t last) {
  std::lock_guard lock(mu_);
  events_.push_back({Op::ClaimRange, space, first, last, {}});
  if (fail_next_) {
    fail_next_ = false;
    throw Error(fmt::format("claim of {:#x}..{:#x} refused (injected)", first, last));
  }
  if (last < first) {
    ++violations_;
    throw std::logic_error("inverted range");
  }
  if (space == gpu::IoSpace::Port && last > 0xffff) {
    ++violations_;
    throw std::logic_error(fmt::format("port range {:#x}..{:#x} is beyond port 0xffff", first, last));
  }
  for (const auto& r : ranges_) {
    if (r.space == space && first <= r.last && r.first <= last) {
      ++violations_;
      throw std::logic_error(
          fmt::format("range {:#x}..{:#x} overlaps claimed {:#x}..{:#x}", first, last, r.first, r.last));
    }
  }
  ranges_.insert({space, first, last});
}

void FakeRangeClaims::release_range(gpu::IoSpace space, uint64_t first, uint64_t last) {
  std::lock_guard lock(mu_);
  events_.push_back({Op::ReleaseRange, space, first, last, {}});
  if (ranges_.erase({space, first, last}) == 0) {
    ++violations_;
    throw std::logic_error(fmt::format("range {:#x}..{:#x} released but not claimed", first, last));
  }
}

std::vector<FakeRangeClaims::Event> FakeRangeClaims::events() const {
  std::lock_guard lock(mu_);
  return events_;
}

std::set<FakeRangeClaims::Range> FakeRangeClaims::ranges() const {
  std::lock_guard lock(mu_);
  return ranges_;
}

std::set<Sbdf> FakeRangeClaims::pcis() const {
  std::lock_guard lock(mu_);
  return pcis_;
}

size_t FakeRangeClaims::violations() const {
  std::lock_guard lock(mu_);
  return violations_;
}

void FakeRangeClaims::fail_next_claim() {
  std::lock_guard lock(mu_);
  fail_next_ = true;
}

void FakeRangeClaims::clear_events() {
  std::lock_guard lock(mu_);
  events_.clear();
}

// ---- direct memory

void FakeDirectRegion::place(uint64_t gpa) {
  if (gpa % kPageSize != 0) {
    throw Error(fmt::format("direct region placed at unaligned {:#x}", gpa));
  }
  std::lock_guard lock(mu_);
  placed_ = gpa;
  ++placements_;
}

void FakeDirectRegion::unplace() {
  std::lock_guard lock(mu_);
  placed_.reset();
}

void FakeDirectRegion::collect_dirty(std::vector<uint64_t>& bitmap) {
  std::lock_guard lock(mu_);
  bitmap.assign((mem_.size() / kPageSize + 63) / 64, 0);
  for (uint64_t p : dirty_) {
    bitmap[p / 64] |= uint64_t{1} << (p % 64);
  }
  dirty_.clear();
}

void FakeDirectRegion::device_wrote(uint64_t offset, uint64_t len) noexcept {
  if (len == 0) return;
  std::lock_guard lock(mu_);
  for (uint64_t p = offset / kPageSize; p <= (offset + len - 1) / kPageSize; ++p) device_written_.insert(p);
}

std::set<uint64_t> FakeDirectRegion::take_device_written() {
  std::lock_guard lock(mu_);
  return std::exchange(device_written_, {});
}

std::optional<uint64_t> FakeDirectRegion::placed() const {
  std::lock_guard lock(mu_);
  return placed_;
}

unsigned FakeDirectRegion::placements() const {
  std::lock_guard lock(mu_);
  return placements_;
}

void FakeDirectRegion::touch(uint64_t page) {
  std::lock_guard lock(mu_);
  dirty_.insert(page);
}

namespace {
class TrackedRegion : public FakeDirectRegion {
 public:
  TrackedRegion(FakeDirectMemory& owner, uint64_t size) : FakeDirectRegion(size), owner_(owner) {}
  ~TrackedRegion() override { owner_.forget(this); }

 private:
  FakeDirectMemory& owner_;
};
}  // namespace

std::unique_ptr<gpu::DirectRegion> FakeDirectMemory::allocate(uint64_t size) {
  if (size == 0 || size % kPageSize != 0) {
    throw Error(fmt::format("direct region size {:#x} is not whole pages", size));
  }
  auto r = std::make_unique<TrackedRegion>(*this, size);
  std::lock_guard lock(mu_);
  regions_.push_back(r.get());
  return r;
}

void FakeDirectMemory::forget(FakeDirectRegion* r) {
  std::lock_guard lock(mu_);
  regions_.erase(std::remove(regions_.begin(), regions_.end(), r), regions_.end());
}

std::vector<FakeDirectRegion*> FakeDirectMemory::regions() const {
  std::lock_guard lock(mu_);
  return regions_;
}

size_t FakeDirectMemory::live() const {
  std::lock_guard lock(mu_);
  return regions_.size();
}

// ---- all together

FakePlatform::FakePlatform(Domid d, uint64_t ram) : domid(d), memory(ram) {}

gpu::Platform FakePlatform::platform(bool with_direct) {
  gpu::Platform p;
  p.domid = domid;
  p.memory = &memory;
  p.interrupts = &interrupts;
  p.claims = &claims;
  p.direct_memory = with_direct ? &direct : nullptr;
  return p;
}

}  // namespace xvgpu::test
