// Fuzz entry points for the guest-facing parts of the core: plain functions taking bytes, so a
// libFuzzer target is a two-line wrapper (LLVMFuzzerTestOneInput -> fuzz_*) and tests can call
// them too. Each one checks invariants and aborts on a violation, which the fuzzer reports as a
// crash.
#pragma once

#include <cstddef>
#include <cstdint>

namespace xvgpu::fuzz {

// Interprets the bytes as a sequence of config-space reads and writes (offset, size, value)
// against a device with I/O, 32-bit, 64-bit and direct BARs, MSI and a vendor capability; maps
// BARs through a checking claims recorder. Invariants: identity bytes never change, claims
// never overlap or leak, BAR reads honour the size mask, MSI is only sent when enabled and
// unmasked.
void fuzz_config_space(const uint8_t* data, size_t size);

// Interprets the bytes as guest BAR accesses (offset, size, alignment) checked against the
// dispatch rule of access_split.h: pieces are naturally aligned, within [min, max], cover the
// access exactly, and never run past the BAR.
void fuzz_bar_dispatch(const uint8_t* data, size_t size);

// Drives a whole running vGPU through its DeviceBus as a hostile guest would: config reads and
// writes (BAR moves, decode toggling, MSI programming), MMIO and port accesses of any size and
// alignment anywhere, stop/start and resets, and vendor-raised MSIs. The vendor is the built-in
// echo device (echo_vendor.h); the platform is the fake of tests/support, whose claims recorder
// refuses unbalanced or overlapping claims. One vGPU serves the whole process, at power-on for
// each input (resettable_vgpu.h). Invariants: no crash, claims consistent, direct BARs placed
// naturally aligned, everything released by the reset. Returns how many accesses reached the
// vendor (for tests; fuzzers ignore it).
size_t fuzz_vgpu_io(const uint8_t* data, size_t size);

}  // namespace xvgpu::fuzz
