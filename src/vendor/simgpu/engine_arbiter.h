// Who uses the engine of one physical simgpu next, across every process on the host.
//
// xvgpu-dm runs one process per guest, so vGPUs of different VMs on the same physical simgpu
// live in different processes. They share one table (engine_arbiter_table.h) in a file under
// the host's xvgpu state directory: one slot per vGPU with its weight, priority, virtual time
// and runnable flag. Before each descriptor a vGPU's worker acquires the engine here; the
// engine is granted in the order of the FairShare policy (weights, foreground/background) over
// all slots of all processes. One descriptor executes at a time per physical GPU: the engine's
// capacity is shared, not duplicated.
//
// A process killed at any point (holding the table's lock, holding the engine, waiting for it)
// never blocks the others: the robust mutex recovers the lock, and a slot whose owner's file
// lock is gone is reaped by the next process that looks (at most kLivenessCheck later).
//
// The same code arbitrates inside one process when there is no shared directory: the table
// then lives in private memory (open_private()).
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "common/unique_fd.h"
#include "vendor/simgpu/engine_arbiter_table.h"
#include "vendor/simgpu/fair_share.h"

namespace xvgpu::simgpu {

class EngineArbiter {
 public:
  using Id = FairShare::Id;  // a slot of the table
  static constexpr uint32_t kDefaultSlots = 256;
  // How long a waiter sleeps before it checks whether the holder's process is still alive.
  static constexpr std::chrono::milliseconds kLivenessCheck{50};

  // The host-wide table in `file` (created with `slots` slots when nobody uses it; an existing
  // table keeps its own size). Throws xvgpu::Error when the file holds another layout version
  // that a live process still uses, or cannot be created.
  static std::unique_ptr<EngineArbiter> open_shared(const std::filesystem::path& file,
                                                    uint32_t slots = kDefaultSlots);
  // A table for the vGPUs of this process only.
  static std::unique_ptr<EngineArbiter> open_private(uint32_t slots = kDefaultSlots);

  struct Private {};  // open_shared()/open_private() are the constructors
  explicit EngineArbiter(Private /*unused*/) {}
  ~EngineArbiter();
  EngineArbiter(const EngineArbiter&) = delete;
  EngineArbiter& operator=(const EngineArbiter&) = delete;

  // Takes a slot for a new vGPU. Throws xvgpu::Error when every slot is in use by live vGPUs.
  Id add(uint32_t weight, EnginePriority priority);
  // The vGPU must not be inside acquire()/release() (its worker is drained).
  void remove(Id id);
  void set_weight(Id id, uint32_t weight);
  void set_priority(Id id, EnginePriority priority);

  // Blocks until the engine is granted to id.
  void acquire(Id id);
  // Gives the engine back after work of `cost` units. more: the caller will call acquire()
  // again right away (it stays a contender, so its weight counts against the waiters).
  void release(Id id, uint64_t cost, bool more);
  // The caller said `more` but will not come back (its work vanished, or it could not
  // continue): stop contending so the engine goes to someone else.
  void withdraw(Id id);

  // What the table holds, read atomically (tests, benchmarks, diagnostics).
  struct SlotView {
    Id slot = 0;
    int32_t pid = 0;
    uint32_t weight = 0;
    EnginePriority priority = EnginePriority::Foreground;
    bool runnable = false;
    uint64_t grants = 0;  // times this slot got the engine
    uint64_t cost = 0;    // engine units it was charged
  };
  struct Snapshot {
    std::vector<SlotView> slots;  // slots in use
    uint32_t capacity = 0;
    uint64_t slots_reaped = 0;
  };
  Snapshot snapshot();

  [[nodiscard]] bool host_wide() const { return fd_.get() >= 0; }
  [[nodiscard]] const std::filesystem::path& file() const { return file_; }
  // Receives the arbiter's own trouble reports (a recovered lock, a reaped slot).
  void set_logger(std::function<void(const std::string&)> log) { log_ = std::move(log); }

 private:
  void map(uint64_t size);
  void init_layout(uint32_t slots);
  void check_layout(uint64_t file_size);
  void attach();

  // The table lock; recovers the table when its previous holder died. false: the lock is
  // unusable (never expected), and the arbiter stops arbitrating rather than blocking.
  bool lock_table();
  void unlock_table();
  void recover_locked();
  // Frees the slots of processes that are gone; true if any.
  bool reap_dead_locked();
  [[nodiscard]] bool slot_alive_locked(Id id) const;
  bool lock_slot_byte(Id id);
  void unlock_slot_byte(Id id);
  void grant_next_locked();
  void wake_all();
  [[nodiscard]] bool owns(Id id) const;
  FairShare policy() { return FairShare(header_->clock, entries_); }
  void log(const std::string& message) const;

  std::filesystem::path file_;
  UniqueFd fd_;  // the shared file (-1 for a private table); holds the OFD locks
  void* mapping_ = nullptr;
  uint64_t mapping_size_ = 0;
  arbiter_table::Header* header_ = nullptr;
  std::span<FairShareEntry> entries_;
  std::span<arbiter_table::SlotOwner> owners_;
  std::vector<bool> owned_;  // slots this arbiter took (guarded by the table lock)
  bool broken_ = false;      // the table lock is unusable: run without arbitration
  std::function<void(const std::string&)> log_;
};

// A vGPU's slot for its lifetime.
class ArbiterSlot {
 public:
  ArbiterSlot(EngineArbiter& arbiter, uint32_t weight, EnginePriority priority)
      : arbiter_(arbiter), id_(arbiter.add(weight, priority)) {}
  ~ArbiterSlot() { arbiter_.remove(id_); }
  ArbiterSlot(const ArbiterSlot&) = delete;
  ArbiterSlot& operator=(const ArbiterSlot&) = delete;
  [[nodiscard]] EngineArbiter& arbiter() const { return arbiter_; }
  [[nodiscard]] EngineArbiter::Id id() const { return id_; }

 private:
  EngineArbiter& arbiter_;
  EngineArbiter::Id id_;
};

}  // namespace xvgpu::simgpu
