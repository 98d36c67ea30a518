// The saved device state (dm/device_state.cc): --restore-state reads a file that came from
// outside (a save image, a migration peer) and is untrusted. Input: the file's bytes.
// Invariants: decode succeeds or throws xvgpu::Error (nothing else, no unbounded allocation);
// what decodes is canonical: encoding it again gives exactly the input.
#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <span>

#include "common/error.h"
#include "dm/device_state.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::span<const uint8_t> in(data, size);
  xvgpu::dm::DeviceState s;
  try {
    s = xvgpu::dm::decode_device_state(in);
  } catch (const xvgpu::Error&) {
    return 0;
  }
  const auto again = xvgpu::dm::encode_device_state(s);
  if (again.size() != size || !std::equal(again.begin(), again.end(), in.begin())) std::abort();
  return 0;
}
