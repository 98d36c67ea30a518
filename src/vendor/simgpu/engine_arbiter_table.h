// The memory layout EngineArbiter shares between every process that uses one physical simgpu:
// a versioned header, then one FairShareEntry and one SlotOwner per contending vGPU.
//
//   [ArbiterHeader][FairShareEntry x slot_count][SlotOwner x slot_count]
//
// The file is <state dir>/simgpu/<physical GPU>.engine. Besides its bytes, the file's OFD
// byte-range locks (fcntl F_OFD_SETLK) carry liveness, which the kernel drops when a process
// dies, SIGKILL included:
//   byte kInitLockByte          write-locked while a process creates or checks the layout;
//   byte kUserLockByte          read-locked by every process that has the table mapped (a
//                               write lock succeeds only when nobody uses the file);
//   byte kSlotLockBase + slot   write-locked by the process that owns the slot.
// Everything in the table but grant_seq is read and written only under `mutex` (a robust,
// process-shared mutex: a process that dies holding it hands it to the next locker with
// EOWNERDEAD, which reaps the dead process's slots and carries on).
//
// Changing anything here changes the layout: bump kArbiterLayoutVersion.
#pragma once

#include <pthread.h>

#include <atomic>
#include <cstddef>
#include <cstdint>

#include "vendor/simgpu/fair_share.h"

namespace xvgpu::simgpu::arbiter_table {

inline constexpr uint64_t kMagic = 0x3142524155504753;  // "SGPUARB1" little endian
inline constexpr uint32_t kLayoutVersion = 1;
inline constexpr uint32_t kMaxSlots = 4096;

inline constexpr off_t kInitLockByte = 0;
inline constexpr off_t kUserLockByte = 1;
inline constexpr off_t kSlotLockBase = 2;

inline constexpr int32_t kNone = -1;

struct alignas(64) Header {
  uint64_t magic;
  uint32_t version;
  uint32_t header_size;  // sizeof(Header)
  uint32_t entry_size;   // sizeof(FairShareEntry)
  uint32_t owner_size;   // sizeof(SlotOwner)
  uint32_t slot_count;
  uint32_t mutex_size;  // sizeof(pthread_mutex_t): the processes must agree on it
  uint64_t total_size;  // the whole layout in bytes
  pthread_mutex_t mutex;
  // Bumped (then FUTEX_WAKE) whenever the engine is granted; waiters FUTEX_WAIT on it.
  std::atomic<uint32_t> grant_seq;
  int32_t holder;   // slot using the engine, or kNone
  int32_t granted;  // slot chosen to go next that has not arrived in acquire() yet, or kNone
  uint32_t reserved;
  uint64_t slots_reaped;  // slots taken back from processes that died
  FairShareClock clock;
};
static_assert(std::atomic<uint32_t>::is_always_lock_free, "grant_seq must be address-free");

// Who owns a slot, and what it got (diagnostics and tests).
struct SlotOwner {
  int32_t pid;
  uint32_t waiting;  // inside acquire()
  uint64_t grants;
  uint64_t cost;
};

inline constexpr uint64_t entries_offset() {
  return sizeof(Header);
}
inline constexpr uint64_t owners_offset(uint32_t slots) {
  return entries_offset() + uint64_t{slots} * sizeof(FairShareEntry);
}
inline constexpr uint64_t total_size(uint32_t slots) {
  return owners_offset(slots) + uint64_t{slots} * sizeof(SlotOwner);
}

}  // namespace xvgpu::simgpu::arbiter_table
