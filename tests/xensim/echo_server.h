// An echo ioreq server written ONLY against the Xen C API (libxendevicemodel,
// libxenforeignmemory, libxenevtchn, libxentoolcore). It runs unchanged on xensim in-process,
// against xensimd through the replacement libraries, or on real Xen.
//
// Device behaviour (mirrored by echo_model.h so tests can check every answer):
//   a write stores the value at (type, addr); a read returns the stored value, or
//   echo_default(type, addr, size) if nothing was stored. Rep data_is_ptr accesses move
//   each element between the guest buffer and the device addresses (addr +/- i*size for
//   MMIO, the same port for PIO). Buffered writes are applied the same way.
#pragma once

#include <atomic>
#include <cstdint>
#include <string>

namespace echo {

// Claims of the echo device.
inline constexpr uint16_t kPortFirst = 0x1000, kPortLast = 0x10ff;
inline constexpr uint64_t kMmioFirst = 0xe0000000, kMmioLast = 0xe00fffff;
inline constexpr uint8_t kPciBus = 0, kPciDev = 3, kPciFn = 0;

struct Options {
  uint16_t domid = 0;
  int bufioreq = 0;             // HVM_IOREQSRV_BUFIOREQ_*
  bool legacy = false;          // get_ioreq_server_info gfns + xenforeignmemory_map
  bool restrict_all = true;     // xentoolcore_restrict_all(domid) after setup
  bool claim_low_port = false;  // also claim port 0x80 (buffered-eligible) and MMIO 0xa0000-0xbffff
};

struct Stats {
  std::atomic<uint64_t> ioreqs{0}, invalidates{0}, timeoffsets{0}, buffered{0}, errors{0};
  std::atomic<int64_t> last_timeoffset{0};
};

inline uint64_t echo_default(uint8_t type, uint64_t addr, uint32_t size) {
  uint64_t x = addr * 0x9e3779b97f4a7c15ull ^ (uint64_t{type} << 56) ^ 0x5bd1e995u;
  x ^= x >> 29;
  return size >= 8 ? x : x & ((uint64_t{1} << (size * 8)) - 1);
}

// Sets up the server (returns false with a message in *error), then answers ioreqs until
// *stop becomes true. ready is set once the server is enabled and bound.
bool run(const Options& opt, std::atomic<bool>* stop, std::atomic<bool>* ready, Stats* stats,
         std::string* error);

}  // namespace echo
