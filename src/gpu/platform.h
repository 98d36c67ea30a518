// What the vGPU core needs from the hypervisor, in hypervisor-neutral terms.
//
// The Xen frontend (src/ioreq) implements these on top of libxendevicemodel and
// libxenforeignmemory; the core's unit tests implement them with a fake. Layers point one
// way: vendor -> gpu core <- ioreq frontend. Nothing here names Xen.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "common/error.h"
#include "common/types.h"

namespace xvgpu::gpu {

// A guest-physical access that failed (address not backed by guest RAM, or mapping refused).
class GuestMemoryError : public Error {
 public:
  GuestMemoryError(uint64_t gpa, const std::string& what) : Error(what), gpa_(gpa) {}
  [[nodiscard]] uint64_t gpa() const { return gpa_; }

 private:
  uint64_t gpa_;
};

// A pinned mapping of a guest-physical range. It stays valid while this object lives, even
// when the guest's memory map changes underneath (the frontend defers dropping it).
class GuestMapping {
 public:
  virtual ~GuestMapping() = default;
  [[nodiscard]] virtual std::span<std::byte> bytes() = 0;
  [[nodiscard]] virtual uint64_t gpa() const = 0;
  [[nodiscard]] virtual bool writable() const = 0;
};

// Guest memory for device DMA. Every gpa and length is guest-controlled: implementations
// bound-check them and throw GuestMemoryError rather than touch anything else.
class GuestMemory {
 public:
  virtual ~GuestMemory() = default;
  virtual void read(uint64_t gpa, std::span<std::byte> out) = 0;
  // Writes are reported to the hypervisor's dirty log (live migration).
  virtual void write(uint64_t gpa, std::span<const std::byte> in) = 0;
  // Pins [gpa, gpa+len) for direct access. A writable mapping is reported dirty on release.
  virtual std::unique_ptr<GuestMapping> map(uint64_t gpa, uint64_t len, bool writable) = 0;
  // False when [gpa, gpa+len) is certainly not guest memory, so the DMA path refuses it without
  // the cost of an exception; true when unknown (read/write/map still check and throw).
  [[nodiscard]] virtual bool may_hold(uint64_t /*gpa*/, uint64_t /*len*/) const noexcept { return true; }
};

class InterruptSink {
 public:
  virtual ~InterruptSink() = default;
  // The address/data exactly as the guest programmed them into the MSI capability.
  virtual void inject_msi(uint64_t addr, uint32_t data) = 0;
  // pin: 0 = INTA .. 3 = INTD.
  virtual void set_intx_level(Sbdf sbdf, unsigned pin, bool asserted) = 0;
};

enum class IoSpace : uint8_t { Port, Mmio };

// Which guest accesses reach this device model. The core claims config space per function
// and BAR ranges as the guest enables decode and moves BARs.
class RangeClaims {
 public:
  virtual ~RangeClaims() = default;
  virtual void claim_pci(Sbdf sbdf) = 0;
  virtual void release_pci(Sbdf sbdf) = 0;
  // Inclusive [first, last].
  virtual void claim_range(IoSpace space, uint64_t first, uint64_t last) = 0;
  virtual void release_range(IoSpace space, uint64_t first, uint64_t last) = 0;
};

// Memory behind a BAR that the guest reaches directly (VRAM): guest accesses to it cause no
// ioreq. The device model sees the same bytes through host().
class DirectRegion {
 public:
  virtual ~DirectRegion() = default;
  [[nodiscard]] virtual std::span<std::byte> host() = 0;
  // Makes the region visible to the guest at gpa (page aligned), moving it if already placed.
  virtual void place(uint64_t gpa) = 0;
  // Removes it from the guest's view (memory decode off); the contents are kept.
  virtual void unplace() = 0;
  // Pages written by the guest since the last call: bit i of the result set = page i dirty.
  // Implementations that cannot track report every page dirty.
  virtual void collect_dirty(std::vector<uint64_t>& bitmap) = 0;
  // The device model (not the guest) wrote [offset, offset + len) through host(): memory that is
  // part of the guest's own memory image reports it to the hypervisor's dirty log, so a live
  // migration sends those pages again. The caller has bounded the range by the region's size.
  virtual void device_wrote(uint64_t offset, uint64_t len) noexcept = 0;
};

class DirectMemory {
 public:
  virtual ~DirectMemory() = default;
  // Size is a multiple of the page size. Throws Error when the hypervisor refuses.
  virtual std::unique_ptr<DirectRegion> allocate(uint64_t size) = 0;
  // Whether the regions are pages of the guest's memory, saved and migrated with it by the
  // hypervisor's toolstack (then a saved vGPU state need not carry their contents).
  [[nodiscard]] virtual bool saved_with_guest_memory() const = 0;
};

// The services a vGPU gets from the hypervisor layer, for the domain it serves.
struct Platform {
  Domid domid{};
  GuestMemory* memory = nullptr;
  InterruptSink* interrupts = nullptr;
  RangeClaims* claims = nullptr;
  DirectMemory* direct_memory = nullptr;
};

}  // namespace xvgpu::gpu
