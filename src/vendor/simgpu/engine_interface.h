// The guest-visible interface of the simgpu engine (BAR4): register offsets, bits, the
// descriptor format and the rejection codes. A guest driver (and our tests) program it
// with nothing but this header.
//
// The guest puts a ring of 64-byte descriptors in its own memory, programs RING_BASE and
// RING_SIZE, sets CONTROL.ENABLE and writes the index one past its last descriptor to
// DOORBELL. The engine consumes descriptors from HEAD, completes them in order, publishes
// each descriptor's sequence number in FENCE (and, if FENCE_ADDR is set, as a 32-bit
// write to guest memory) and raises MSI vector 0 for completions and errors it was asked
// to signal. Bad descriptors are skipped with ERROR_CODE set and counted; a ring that
// cannot be read halts the engine.
#pragma once

#include <cstdint>

namespace xvgpu::simgpu::engine {

inline constexpr uint64_t kBarSize = 4096;

// Register offsets (32-bit registers; 32-bit aligned accesses only).
inline constexpr uint32_t kRegId = 0x00;           // ro: kEngineId
inline constexpr uint32_t kRegVersion = 0x04;      // ro: kEngineVersion
inline constexpr uint32_t kRegCaps = 0x08;         // ro: 1 << opcode for each supported opcode
inline constexpr uint32_t kRegControl = 0x0c;      // rw: kControl*
inline constexpr uint32_t kRegRingBaseLo = 0x10;   // rw while disabled
inline constexpr uint32_t kRegRingBaseHi = 0x14;   // rw while disabled
inline constexpr uint32_t kRegRingSize = 0x18;     // rw while disabled: descriptors, power of 2
inline constexpr uint32_t kRegRingHead = 0x1c;     // ro: next descriptor the engine reads
inline constexpr uint32_t kRegRingTail = 0x20;     // ro: last accepted doorbell value
inline constexpr uint32_t kRegDoorbell = 0x24;     // wo: new tail, starts processing
inline constexpr uint32_t kRegFence = 0x28;        // ro: sequence number of the last completed descriptor
inline constexpr uint32_t kRegStatus = 0x2c;       // ro: kStatus*
inline constexpr uint32_t kRegErrorCode = 0x30;    // ro: kError* of the last rejection
inline constexpr uint32_t kRegErrorCount = 0x34;   // ro: rejections since reset
inline constexpr uint32_t kRegIrqStatus = 0x38;    // rw1c: kIrq*
inline constexpr uint32_t kRegIrqMask = 0x3c;      // rw: kIrq* causes that raise MSI vector 0
inline constexpr uint32_t kRegFenceAddrLo = 0x40;  // rw: guest address for fence write-back, 0 = off
inline constexpr uint32_t kRegFenceAddrHi = 0x44;
inline constexpr uint32_t kRegJobsCompleted = 0x48;  // ro: descriptors completed since reset
inline constexpr uint32_t kRegLastRegister = kRegJobsCompleted;

inline constexpr uint32_t kEngineId = 0x31454753;  // "SGE1"
inline constexpr uint32_t kEngineVersion = 1;

inline constexpr uint32_t kControlEnable = 1u << 0;
inline constexpr uint32_t kControlReset = 1u << 1;  // write 1: stop, head = tail = 0, clear status

inline constexpr uint32_t kStatusBusy = 1u << 0;       // descriptors pending or executing
inline constexpr uint32_t kStatusError = 1u << 1;      // a descriptor was rejected (sticky until reset)
inline constexpr uint32_t kStatusRingError = 1u << 2;  // ring unusable: engine halted

inline constexpr uint32_t kIrqCompletion = 1u << 0;
inline constexpr uint32_t kIrqError = 1u << 1;

inline constexpr uint32_t kMinRingSize = 2;
inline constexpr uint32_t kMaxRingSize = 4096;
inline constexpr uint32_t kRingAlignment = 64;

// Descriptor opcodes.
inline constexpr uint32_t kOpCopyToVram = 1;    // guest memory -> VRAM
inline constexpr uint32_t kOpCopyFromVram = 2;  // VRAM -> guest memory
inline constexpr uint32_t kOpFill = 3;          // 32-bit pattern -> VRAM
inline constexpr uint32_t kOpBlit = 4;          // VRAM -> VRAM, regions must not overlap
inline constexpr uint32_t kSupportedOps =
    1u << kOpCopyToVram | 1u << kOpCopyFromVram | 1u << kOpFill | 1u << kOpBlit;

inline constexpr uint32_t kFlagIrq = 1u << 0;  // raise a completion interrupt when done
inline constexpr uint32_t kKnownFlags = kFlagIrq;

// Every operation moves a rectangle: `height` rows of `width` bytes, rows `pitch` bytes apart
// (pitch is ignored when height is 1). Linear copies are one row.
struct Descriptor {
  uint32_t opcode;
  uint32_t flags;
  uint32_t seqno;  // published in FENCE when the descriptor completes (or is rejected)
  uint32_t reserved0;
  uint64_t src;  // guest-physical address or VRAM offset; unused for fill
  uint64_t dst;  // guest-physical address or VRAM offset
  uint32_t width;
  uint32_t height;
  uint32_t src_pitch;
  uint32_t dst_pitch;
  uint32_t fill_value;  // fill: 32-bit pattern, little endian; width must be a multiple of 4
  uint32_t reserved1[3];
};
static_assert(sizeof(Descriptor) == 64);
inline constexpr uint32_t kDescriptorSize = 64;

// Largest rectangle one descriptor may move.
inline constexpr uint64_t kMaxBytesPerDescriptor = uint64_t{256} << 20;

// ERROR_CODE values.
inline constexpr uint32_t kErrorNone = 0;
inline constexpr uint32_t kErrorBadOpcode = 1;
inline constexpr uint32_t kErrorBadFlags = 2;     // unknown flag or nonzero reserved field
inline constexpr uint32_t kErrorBadGeometry = 3;  // zero size, pitch < width, too large, misaligned fill
inline constexpr uint32_t kErrorVramRange = 4;    // a VRAM rectangle leaves VRAM
inline constexpr uint32_t kErrorGuestRange = 5;   // a guest rectangle wraps or is not guest RAM
inline constexpr uint32_t kErrorOverlap = 6;      // blit regions overlap, or a write would hit the ring
inline constexpr uint32_t kErrorBadTail = 7;      // doorbell beyond the ring
inline constexpr uint32_t kErrorBadRing = 8;      // RING_SIZE/RING_BASE invalid at enable
inline constexpr uint32_t kErrorRingFault = 9;    // the ring is not readable guest memory
inline constexpr uint32_t kErrorFenceFault = 10;  // FENCE_ADDR is not writable guest memory
inline constexpr uint32_t kErrorBusyConfig = 11;  // ring reprogrammed while enabled

}  // namespace xvgpu::simgpu::engine
