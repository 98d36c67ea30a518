// The simgpu engine of one vGPU (BAR4): the command ring registers, descriptor fetch,
// validation and execution, fences and completion interrupts.
//
// Register accesses arrive on the vCPU's request path and only record state; descriptors run
// in work() on the instance's worker thread, one at a time under the physical GPU's
// EngineArbiter, so a vCPU never waits for a copy and vGPUs share the engine by weight.
#pragma once

#include <atomic>
#include <cstdint>
#include <mutex>
#include <optional>
#include <span>

#include "vendor/simgpu/descriptor_check.h"
#include "vendor/simgpu/engine_arbiter.h"
#include "vendor/simgpu/engine_interface.h"
#include "vendor/simgpu/host_services.h"
#include "vendor/simgpu/vram_dirty_map.h"

namespace xvgpu::simgpu {

// Guest-visible engine state (what save/restore carries).
struct EngineRegisters {
  bool enabled = false;
  uint64_t ring_base = 0;
  uint32_t ring_size = 0;
  uint32_t head = 0;
  uint32_t tail = 0;
  uint32_t fence = 0;
  uint32_t status = 0;  // kStatusError | kStatusRingError (BUSY is derived)
  uint32_t error_code = 0;
  uint32_t error_count = 0;
  uint32_t irq_status = 0;
  uint32_t irq_mask = 0;
  uint64_t fence_addr = 0;
  uint32_t jobs_completed = 0;
};

struct EngineCounters {
  std::atomic<uint64_t> jobs{0};        // descriptors completed
  std::atomic<uint64_t> bytes{0};       // bytes moved by completed descriptors
  std::atomic<uint64_t> interrupts{0};  // MSIs raised + INTx assertions
  std::atomic<uint64_t> rejected{0};    // descriptors and ring programming refused
};

class Engine {
 public:
  // dirty: where the engine's VRAM writes are reported.
  Engine(const HostServices& host, std::span<std::byte> vram, VramDirtyMap& dirty, EngineArbiter& arbiter,
         EngineArbiter::Id id);
  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;

  // Register access (32-bit, aligned). nullopt / false: no such register or read-only.
  std::optional<uint32_t> read(uint32_t offset);
  bool write(uint32_t offset, uint32_t value);

  // The guest enabled/disabled MSI: completions go to MSI vector 0, otherwise to INTx.
  void set_msi_enabled(bool enabled);
  // Device reset: stops the ring, clears registers (the core drained the worker first).
  void reset();
  // Queues work() if descriptors are pending (after restore, at start).
  void kick();

  [[nodiscard]] EngineRegisters registers() const;
  // Refuses (false, with a reason) an image whose ring is inconsistent.
  bool restore(const EngineRegisters& regs, std::string& why);

  [[nodiscard]] const EngineCounters& counters() const { return counters_; }
  // Continues the statistics of a saved instance (restore).
  void set_counters(uint64_t jobs, uint64_t bytes, uint64_t interrupts, uint64_t rejected);

  // Cost in engine units of a descriptor beyond the bytes it moves (fetch, validation).
  static constexpr uint64_t kDescriptorOverhead = 4096;
  // Descriptors one worker job runs before it yields its worker and requeues itself.
  static constexpr unsigned kDescriptorsPerJob = 32;

 private:
  struct RunResult {
    uint64_t cost = 0;
    bool more = false;
  };
  static void work_trampoline(void* self);
  void work();
  RunResult run_one();
  uint32_t execute(const engine::Descriptor& d, const CheckedDescriptor& c);
  bool schedule();
  // Records an event; returns the interrupt action to take outside the lock.
  enum class IrqAction : uint8_t { None, Msi, IntxAssert, IntxDeassert };
  IrqAction signal_locked(uint32_t cause);
  IrqAction intx_level_locked();
  void deliver(IrqAction action);
  void reject_locked(uint32_t error);
  [[nodiscard]] bool ring_valid_locked() const;
  [[nodiscard]] bool pending_locked() const { return regs_.enabled && regs_.head != regs_.tail; }

  HostServices host_;
  std::span<std::byte> vram_;
  VramDirtyMap& dirty_;
  EngineArbiter& arbiter_;
  EngineArbiter::Id id_;
  mutable std::mutex mu_;
  EngineRegisters regs_;
  uint64_t generation_ = 0;  // bumped by reset: an in-flight descriptor's result is dropped
  bool job_queued_ = false;
  bool running_ = false;  // a descriptor is executing
  bool msi_enabled_ = false;
  bool intx_asserted_ = false;
  EngineCounters counters_;
};

}  // namespace xvgpu::simgpu
