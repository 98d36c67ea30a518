// A built-in vendor for fuzzing the core: its registers echo what was written (a reset clears
// them), a write to 0x40 raises the MSI vector written, and its state (the registers) saves and
// restores.
// Type "fuzz-echo/echo": BAR0 64 KiB direct, BAR2 4 KiB trapped (accesses 4..8 bytes), BAR3
// 32 ports (1..4 bytes), 4 MSI vectors. Type "fuzz-echo/echo-small": the same with a 4 KiB BAR0,
// so that a snapshot of it is small.
#pragma once

#include <cstddef>

namespace xvgpu::fuzz {

// Registers the vendor as built-in (once per process); load it with load_builtin_vendors().
void register_echo_vendor();
// Vendor register accesses since the last call (reads and writes).
size_t take_echo_accesses();

}  // namespace xvgpu::fuzz
