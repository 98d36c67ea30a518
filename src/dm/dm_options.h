// xvgpu-dm's command line: parsed and checked completely before anything touches Xen, so a bad
// argument leaves nothing behind.
#pragma once

#include <sys/types.h>

#include <optional>
#include <string>
#include <vector>

#include "common/error.h"
#include "common/types.h"
#include "control/vgpu_spec.h"
#include "control/vm_ref.h"

namespace xvgpu::dm {

// A bad argument: one line naming the argument and the reason; xvgpu-dm exits with kExitUsage.
class UsageError : public Error {
 public:
  using Error::Error;
};

// Exit codes of xvgpu-dm (docs/man/xvgpu-dm.1, EXIT STATUS).
inline constexpr int kExitOk = 0;       // shut down on request, or the domain died
inline constexpr int kExitFailure = 1;  // set-up or run-time failure (logged; xenstore state "error")
inline constexpr int kExitUsage = 2;    // bad command line (nothing touched)

inline constexpr uint64_t kDefaultLogMaxBytes = 8ULL << 20;
inline constexpr uint64_t kMinLogMaxBytes = 64ULL << 10;

struct RunAs {
  std::string user;
  uid_t uid = 0;
  gid_t gid = 0;
};

// What the seccomp allow-list does with a system call serving a guest never needs.
enum class SeccompMode { Kill, Log, Off };

struct DmOptions {
  Domid domid{};
  // The VM the domain must be (--vm): xvgpu-dm refuses a domain with another handle or name.
  std::optional<VmRef> vm;
  std::vector<VgpuSpec> vgpus;
  // Guest memory populated at start for the VRAM of vGPUs hot-added later (--hot-add-room);
  // 0: none, and a hot-add of a type with VRAM is refused.
  uint64_t hot_add_room = 0;
  std::vector<std::string> vendor_plugins;  // paths of plugin .so files or directories of them
  std::optional<RunAs> runas;
  std::optional<std::string> chroot_dir;
  std::string log_level = "info";
  std::optional<std::string> log_file;  // unset: stderr (or syslog with `syslog`)
  bool syslog = false;
  uint64_t log_max_bytes = kDefaultLogMaxBytes;  // a log that is a regular file stays within this
  std::string control_socket;                    // default /run/xvgpu/dm-<domid>.sock
  mode_t control_socket_mode = 0600;
  std::string pidfile;        // default /run/xvgpu/dm-<domid>.pid
  std::string xenstore_node;  // default /local/domain/0/device-model/<domid>; "none" disables
  SeccompMode seccomp = SeccompMode::Kill;
  // Answer the PCI address port 0xcf8 (guests without an emulated PCI host: PVH). Never for
  // HVM guests, whose QEMU owns it.
  bool emulate_pci_cf8 = false;
  // Write the shape and verdict of every request Xen sent to this file when serving ends
  // (src/ioreq/ioreq_trace.h); unset: no trace.
  std::optional<std::string> ioreq_trace;
  // UNIX socket the guest's QEMU connects its input QMP monitor to (HVM: the wrapper passes it);
  // the consoles' keyboard and pointer events go there. Unset: console input is ignored.
  std::optional<std::string> input_qmp;
  // Start from this saved device state (src/dm/device_state.h) instead of reset: the vGPUs
  // given with --vgpu get their saved state and adopt the VRAM the restored domain holds.
  std::optional<std::string> restore_state;
  bool help_requested = false;  // --help or --version: print help_text, exit 0
  std::string help_text;
};

inline constexpr const char* kDefaultRunDir = "/run/xvgpu";

// "256M", "1G", "4096": bytes, a multiple of 4 KiB, at most 64 GiB. Throws Error.
uint64_t parse_size(const std::string& text);

// Parses and validates argv. Throws UsageError (one line, naming the argument).
DmOptions parse_dm_options(int argc, const char* const* argv);

}  // namespace xvgpu::dm
