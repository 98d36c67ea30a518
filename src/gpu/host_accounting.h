// Host-wide accounting of vGPU instances: how many instances of each type fit on each
// physical GPU, and that a vGPU UUID is used once, across EVERY xvgpu process on the host.
//
// One file per reservation under <state dir>/reservations/<uuid>, created and held with an
// exclusive flock(2) by the owning process for the reservation's whole life. The kernel drops
// the lock when the process dies for any reason (SIGKILL included), so a file that can be
// locked by someone else is stale: the next scan removes it. Scans, creations and removals
// happen under <state dir>/lock (also a flock), so nobody sees a half-written file or races a
// creation. Nothing can leak: a reservation lives exactly as long as its owner's fd.
//
// The state dir is $XVGPU_STATE_DIR, or /run/xvgpu. Reservation fds are close-on-exec; a
// process that forks WITHOUT exec keeps its parent's reservations alive until it exits.
//
// A reservation records its owner: the domain served and its VM. When a VM reboots, its next
// domain's device model may start while the previous domain's one is still tearing down; a
// reservation of the same vGPU held for ANOTHER domain of the SAME VM is that predecessor, and
// reserve() waits (bounded) for it to go instead of failing.
//
// A migration within one host is the exception: the receiving domain's device model starts
// (restoring the state the sender saved) while the sending domain still exists, and the sender
// is destroyed only after the receiver is ready. An `incoming` owner therefore shares its
// predecessor's reservation instead of waiting: its file is <uuid>@<domid>, and the UUID counts
// once against capacity, as it is one vGPU moving between two domains of one VM.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "common/error.h"
#include "common/unique_fd.h"
#include "gpu/vendor_model.h"

namespace xvgpu::gpu {

class NoCapacityError : public Error {
 public:
  using Error::Error;
};
class UuidInUseError : public Error {
 public:
  using Error::Error;
};

// Who holds a reservation: the domain a device model serves and that domain's VM (empty when not known).
struct ReservationOwner {
  long domid = -1;
  std::string vm_uuid;
  std::string vm_name;
  // The domain is restored from its predecessor's saved state (a migration's receiver).
  bool incoming = false;
};

struct ReservationRecord {
  std::string uuid;
  std::string file;  // under <state dir>/reservations: the uuid, or <uuid>@<domid> for a shared one
  long pid = 0;
  ReservationOwner owner;
  std::string vendor;
  std::string pgpu;
  std::string type;
  std::map<std::string, uint64_t> costs;  // resource name -> amount
};

// Held by a created vGPU; releasing (or destroying) it frees the capacity.
class Reservation {
 public:
  Reservation(std::filesystem::path dir, std::string uuid, std::string file, UniqueFd fd);
  Reservation(const Reservation&) = delete;
  Reservation& operator=(const Reservation&) = delete;
  ~Reservation();
  [[nodiscard]] const std::string& uuid() const { return uuid_; }
  void release() noexcept;

 private:
  std::filesystem::path dir_;
  std::string uuid_;
  std::string file_;
  UniqueFd fd_;
};

struct PgpuUsage {
  std::map<std::string, uint32_t> instances;  // type -> live instances
  std::map<std::string, uint64_t> used;       // resource -> amount in use
};

// How many more instances of `type` the host-wide accounting allows (vendor view not included).
uint32_t accounting_available(const PgpuInfo& pgpu, const TypeInfo& type, const PgpuUsage& usage);

class HostAccounting {
 public:
  explicit HostAccounting(std::filesystem::path state_dir);
  // $XVGPU_STATE_DIR or /run/xvgpu.
  static std::filesystem::path default_state_dir();
  [[nodiscard]] const std::filesystem::path& state_dir() const { return dir_; }

  // Atomically (host-wide) checks UUID uniqueness and capacity, then records the reservation.
  // Throws UuidInUseError / NoCapacityError with a message naming the conflict. A reservation of
  // the UUID held for another domain of owner's VM (a reboot's predecessor) is waited for, up to
  // handover_wait(); the time waited is logged. An incoming owner shares it instead (see above).
  std::unique_ptr<Reservation> reserve(const std::string& uuid, const PgpuInfo& pgpu, const TypeInfo& type,
                                       const ReservationOwner& owner = {});

  // How long reserve() waits for a predecessor's reservation (default 10 s).
  void set_handover_wait(std::chrono::milliseconds wait) { handover_wait_ = wait; }
  [[nodiscard]] std::chrono::milliseconds handover_wait() const { return handover_wait_; }

  // Live reservations (stale ones are removed on the way).
  std::vector<ReservationRecord> list();
  PgpuUsage usage(const std::string& vendor, const std::string& pgpu);

 private:
  UniqueFd lock_global();
  std::vector<ReservationRecord> scan_locked();

  std::filesystem::path dir_;
  std::chrono::milliseconds handover_wait_{10000};
};

// The record was made for another domain of the VM `owner` belongs to (same VM UUID or name).
bool is_predecessor(const ReservationRecord& held, const ReservationOwner& owner);

}  // namespace xvgpu::gpu
