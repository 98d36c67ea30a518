#include "gpu/host_accounting.h"

#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <sys/file.h>
#include <unistd.h>

#include <fmt/format.h>
#include <algorithm>
#include <charconv>
#include <cstdlib>
#include <limits>
#include <set>
#include <thread>

#include "common/error.h"
#include "gpu/uuid.h"

namespace xvgpu::gpu {

namespace fs = std::filesystem;

namespace {

constexpr size_t kMaxRecord = 4096;

fs::path reservations_dir(const fs::path& dir) {
  return dir / "reservations";
}

// A value on one record line: nothing that would end or split it.
bool one_line(std::string_view v) {
  return v.find_first_of("\n\r") == std::string_view::npos;
}

std::string serialize(long pid, const PgpuInfo& pgpu, const TypeInfo& type, const ReservationOwner& owner) {
  std::string s =
      fmt::format("pid={}\nvendor={}\npgpu={}\ntype={}\n", pid, pgpu.vendor, pgpu.name, type.name);
  if (owner.domid >= 0) {
    s += fmt::format("domid={}\n", owner.domid);
  }
  if (!owner.vm_uuid.empty() && one_line(owner.vm_uuid)) {
    s += fmt::format("vm_uuid={}\n", owner.vm_uuid);
  }
  if (!owner.vm_name.empty() && one_line(owner.vm_name)) {
    s += fmt::format("vm_name={}\n", owner.vm_name);
  }
  for (size_t i = 0; i < pgpu.resources.size() && i < type.costs.size(); ++i) {
    if (type.costs[i] != 0) {
      s += fmt::format("cost.{}={}\n", pgpu.resources[i].name, type.costs[i]);
    }
  }
  return s;
}

bool parse_u64(std::string_view s, uint64_t& out) {
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  return ec == std::errc{} && p == s.data() + s.size();
}

ReservationRecord parse(const std::string& file, std::string_view body) {
  ReservationRecord r;
  r.file = file;
  r.uuid = file.substr(0, file.find('@'));
  while (!body.empty()) {
    const auto nl = body.find('\n');
    const auto line = body.substr(0, nl);
    body = nl == std::string_view::npos ? std::string_view{} : body.substr(nl + 1);
    const auto eq = line.find('=');
    if (eq == std::string_view::npos) {
      continue;
    }
    const auto key = line.substr(0, eq);
    const auto val = line.substr(eq + 1);
    uint64_t n = 0;
    if (key == "pid" && parse_u64(val, n)) {
      r.pid = static_cast<long>(n);
    } else if (key == "vendor") {
      r.vendor = val;
    } else if (key == "pgpu") {
      r.pgpu = val;
    } else if (key == "type") {
      r.type = val;
    } else if (key == "domid" && parse_u64(val, n) && n <= 0xffff) {
      r.owner.domid = static_cast<long>(n);
    } else if (key == "vm_uuid") {
      r.owner.vm_uuid = val;
    } else if (key == "vm_name") {
      r.owner.vm_name = val;
    } else if (key.starts_with("cost.") && parse_u64(val, n)) {
      r.costs[std::string(key.substr(5))] = n;
    }
  }
  return r;
}

void write_all(int fd, const std::string& s) {
  size_t done = 0;
  while (done < s.size()) {
    const ssize_t n = ::write(fd, s.data() + done, s.size() - done);
    if (n < 0 && errno == EINTR) {
      continue;
    }
    check_errno(n, "writing reservation record");
    done += static_cast<size_t>(n);
  }
}

int flock_retry(int fd, int op) {
  int rc = 0;
  do {
    rc = ::flock(fd, op);
  } while (rc < 0 && errno == EINTR);
  return rc;
}

// Waits until nobody holds the reservation file at `path` (its owner released it or died) or
// `deadline` passes. True when it was released.
bool wait_released(const fs::path& path, std::chrono::steady_clock::time_point deadline) {
  for (;;) {
    UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
    if (!fd || flock_retry(fd.get(), LOCK_SH | LOCK_NB) == 0) {
      return true;
    }
    if (std::chrono::steady_clock::now() >= deadline) {
      return false;
    }
    // The owner holds the lock without a way to be told about waiters; a short poll.
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
}

// What the live reservations use on one physical GPU. A vGPU shared by a migration's two
// domains counts once.
PgpuUsage usage_of(const std::vector<ReservationRecord>& live, const std::string& vendor,
                   const std::string& pgpu) {
  PgpuUsage u;
  std::set<std::string> counted;
  for (const auto& r : live) {
    if (r.vendor != vendor || r.pgpu != pgpu || !counted.insert(r.uuid).second) {
      continue;
    }
    ++u.instances[r.type];
    for (const auto& [res, amount] : r.costs) {
      u.used[res] += amount;
    }
  }
  return u;
}

}  // namespace

bool is_predecessor(const ReservationRecord& held, const ReservationOwner& owner) {
  if (held.owner.domid < 0 || owner.domid < 0 || held.owner.domid == owner.domid) {
    return false;
  }
  return (!owner.vm_uuid.empty() && held.owner.vm_uuid == owner.vm_uuid) ||
         (!owner.vm_name.empty() && held.owner.vm_name == owner.vm_name);
}

Reservation::Reservation(fs::path dir, std::string uuid, std::string file, UniqueFd fd)
    : dir_(std::move(dir)), uuid_(std::move(uuid)), file_(std::move(file)), fd_(std::move(fd)) {}

Reservation::~Reservation() {
  release();
}

void Reservation::release() noexcept {
  if (!fd_) {
    return;
  }
  // Unlink under the global lock so no scanner sees the file unlocked in between.
  UniqueFd lock(::open((dir_ / "lock").c_str(), O_RDWR | O_CLOEXEC));
  if (lock) {
    (void)flock_retry(lock.get(), LOCK_EX);
  }
  std::error_code ec;
  fs::remove(reservations_dir(dir_) / file_, ec);
  if (ec) {
    spdlog::warn("releasing vGPU reservation {}: {}", uuid_, ec.message());
  }
  fd_.reset();
}

uint32_t accounting_available(const PgpuInfo& pgpu, const TypeInfo& type, const PgpuUsage& usage) {
  uint64_t avail = std::numeric_limits<uint32_t>::max();
  if (type.max_instances != 0) {
    const auto it = usage.instances.find(type.name);
    const uint32_t used = it == usage.instances.end() ? 0 : it->second;
    avail = used >= type.max_instances ? 0 : type.max_instances - used;
  }
  for (size_t i = 0; i < pgpu.resources.size() && i < type.costs.size(); ++i) {
    const uint64_t cost = type.costs[i];
    if (cost == 0) {
      continue;
    }
    const auto it = usage.used.find(pgpu.resources[i].name);
    const uint64_t used = it == usage.used.end() ? 0 : it->second;
    const uint64_t cap = pgpu.resources[i].capacity;
    avail = std::min(avail, used >= cap ? 0 : (cap - used) / cost);
  }
  return static_cast<uint32_t>(avail);
}

HostAccounting::HostAccounting(fs::path state_dir) : dir_(std::move(state_dir)) {
  std::error_code ec;
  fs::create_directories(reservations_dir(dir_), ec);
  if (ec) {
    throw Error(fmt::format("cannot create vGPU state directory {}: {}", reservations_dir(dir_).string(),
                            ec.message()));
  }
}

fs::path HostAccounting::default_state_dir() {
  const char* env = std::getenv("XVGPU_STATE_DIR");
  return (env != nullptr && *env != '\0') ? fs::path(env) : fs::path("/run/xvgpu");
}

UniqueFd HostAccounting::lock_global() {
  const auto path = dir_ / "lock";
  UniqueFd fd(::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600));
  check_errno(fd.get(), "opening " + path.string());
  check_errno(flock_retry(fd.get(), LOCK_EX), "locking " + path.string());
  return fd;
}

std::vector<ReservationRecord> HostAccounting::scan_locked() {
  std::vector<ReservationRecord> live;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(reservations_dir(dir_), ec)) {
    const std::string name = entry.path().filename().string();
    UniqueFd fd(::open(entry.path().c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
    if (!fd) {
      continue;
    }
    if (flock_retry(fd.get(), LOCK_SH | LOCK_NB) == 0) {
      // Nobody holds it: its owner died. Remove it (we hold the global lock).
      spdlog::info("removing stale vGPU reservation {} (its process is gone)", name);
      fs::remove(entry.path(), ec);
      continue;
    }
    if (errno != EWOULDBLOCK) {
      continue;
    }
    std::string body(kMaxRecord, '\0');
    const ssize_t n = ::pread(fd.get(), body.data(), body.size(), 0);
    body.resize(n > 0 ? static_cast<size_t>(n) : 0);
    live.push_back(parse(name, body));
  }
  return live;
}

std::vector<ReservationRecord> HostAccounting::list() {
  auto lock = lock_global();
  return scan_locked();
}

PgpuUsage HostAccounting::usage(const std::string& vendor, const std::string& pgpu) {
  return usage_of(list(), vendor, pgpu);
}

std::unique_ptr<Reservation> HostAccounting::reserve(const std::string& uuid, const PgpuInfo& pgpu,
                                                     const TypeInfo& type, const ReservationOwner& owner) {
  if (!is_canonical_uuid(uuid)) {
    throw Error("invalid vGPU uuid '" + uuid + "'");
  }
  const auto start = std::chrono::steady_clock::now();
  const auto deadline = start + handover_wait_;
  UniqueFd lock = lock_global();
  std::vector<ReservationRecord> live = scan_locked();
  bool shared = false;
  for (;;) {
    const auto held = std::find_if(live.begin(), live.end(), [&](const auto& r) { return r.uuid == uuid; });
    if (held == live.end()) {
      break;
    }
    std::string msg = fmt::format("vGPU uuid {} is already in use (process {}, type {} on {}/{}", uuid,
                                  held->pid, held->type, held->vendor, held->pgpu);
    if (held->owner.domid >= 0) {
      msg += fmt::format(", domain {}", held->owner.domid);
    }
    if (!is_predecessor(*held, owner)) {
      throw UuidInUseError(msg + ")");
    }
    if (owner.incoming) {
      // The migration's sender still runs; both domains hold the one vGPU until it is destroyed.
      const bool other_holder = std::any_of(live.begin(), live.end(), [&](const auto& r) {
        return r.uuid == uuid && !is_predecessor(r, owner);
      });
      if (other_holder) {
        throw UuidInUseError(msg + ")");
      }
      if (held->type != type.name || held->vendor != pgpu.vendor || held->pgpu != pgpu.name) {
        throw UuidInUseError(msg + ", the VM's previous domain holds it as another type or GPU)");
      }
      spdlog::info(
          "vGPU {}: shared with the device model of the VM's previous domain {} (process {}) until it ends",
          uuid, held->owner.domid, held->pid);
      shared = true;
      break;
    }
    // The VM's previous domain's device model is still tearing down: wait outside the global lock.
    const long pid = held->pid;
    const long domid = held->owner.domid;
    const fs::path held_path = reservations_dir(dir_) / held->file;
    lock.reset();
    if (!wait_released(held_path, deadline)) {
      throw UuidInUseError(
          fmt::format("{}, the VM's previous domain): not released within {} ms", msg,
                      std::chrono::duration_cast<std::chrono::milliseconds>(handover_wait_).count()));
    }
    spdlog::info(
        "vGPU {}: waited {} ms for the device model of the VM's previous domain {} (process {}) to release "
        "it",
        uuid,
        std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - start)
            .count(),
        domid, pid);
    lock = lock_global();
    live = scan_locked();
  }
  PgpuUsage u = usage_of(live, pgpu.vendor, pgpu.name);
  if (!shared && accounting_available(pgpu, type, u) == 0) {
    std::string why;
    if (type.max_instances != 0 && u.instances[type.name] >= type.max_instances) {
      why = fmt::format("{} of at most {} instances of the type exist", u.instances[type.name],
                        type.max_instances);
    }
    for (size_t i = 0; i < pgpu.resources.size() && i < type.costs.size(); ++i) {
      const auto& res = pgpu.resources[i];
      if (type.costs[i] != 0 && res.capacity - std::min(res.capacity, u.used[res.name]) < type.costs[i]) {
        if (!why.empty()) {
          why += "; ";
        }
        why += fmt::format("resource '{}': {} of {} in use, the type needs {}", res.name, u.used[res.name],
                           res.capacity, type.costs[i]);
      }
    }
    throw NoCapacityError(
        fmt::format("no capacity for another {} on {}/{}: {}", type.name, pgpu.vendor, pgpu.name, why));
  }
  const std::string file = shared ? fmt::format("{}@{}", uuid, owner.domid) : uuid;
  const auto path = reservations_dir(dir_) / file;
  UniqueFd fd(::open(path.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600));
  check_errno(fd.get(), "creating reservation " + path.string());
  check_errno(flock_retry(fd.get(), LOCK_EX | LOCK_NB), "locking reservation " + path.string());
  try {
    write_all(fd.get(), serialize(static_cast<long>(::getpid()), pgpu, type, owner));
  } catch (...) {
    fs::remove(path);
    throw;
  }
  return std::make_unique<Reservation>(dir_, uuid, file, std::move(fd));
}

}  // namespace xvgpu::gpu
