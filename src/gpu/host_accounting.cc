#include "gpu/host_accounting.h"

#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <sys/file.h>
#include <unistd.h>

#include <fmt/format.h>
#include <charconv>
#include <cstdlib>
#include <limits>

#include "common/error.h"
#include "gpu/uuid.h"

namespace xvgpu::gpu {

namespace fs = std::filesystem;

namespace {

constexpr size_t kMaxRecord = 4096;

fs::path reservations_dir(const fs::path& dir) {
  return dir / "reservations";
}

std::string serialize(long pid, const PgpuInfo& pgpu, const TypeInfo& type) {
  std::string s =
      fmt::format("pid={}\nvendor={}\npgpu={}\ntype={}\n", pid, pgpu.vendor, pgpu.name, type.name);
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

ReservationRecord parse(const std::string& uuid, std::string_view body) {
  ReservationRecord r;
  r.uuid = uuid;
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

}  // namespace

Reservation::Reservation(fs::path dir, std::string uuid, UniqueFd fd)
    : dir_(std::move(dir)), uuid_(std::move(uuid)), fd_(std::move(fd)) {}

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
  fs::remove(reservations_dir(dir_) / uuid_, ec);
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
  PgpuUsage u;
  for (const auto& r : list()) {
    if (r.vendor != vendor || r.pgpu != pgpu) {
      continue;
    }
    ++u.instances[r.type];
    for (const auto& [res, amount] : r.costs) {
      u.used[res] += amount;
    }
  }
  return u;
}

std::unique_ptr<Reservation> HostAccounting::reserve(const std::string& uuid, const PgpuInfo& pgpu,
                                                     const TypeInfo& type) {
  if (!is_canonical_uuid(uuid)) {
    throw Error("invalid vGPU uuid '" + uuid + "'");
  }
  auto lock = lock_global();
  PgpuUsage u;
  for (const auto& r : scan_locked()) {
    if (r.uuid == uuid) {
      throw UuidInUseError(fmt::format("vGPU uuid {} is already in use (process {}, type {} on {}/{})", uuid,
                                       r.pid, r.type, r.vendor, r.pgpu));
    }
    if (r.vendor != pgpu.vendor || r.pgpu != pgpu.name) {
      continue;
    }
    ++u.instances[r.type];
    for (const auto& [res, amount] : r.costs) {
      u.used[res] += amount;
    }
  }
  if (accounting_available(pgpu, type, u) == 0) {
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
  const auto path = reservations_dir(dir_) / uuid;
  UniqueFd fd(::open(path.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600));
  check_errno(fd.get(), "creating reservation " + path.string());
  check_errno(flock_retry(fd.get(), LOCK_EX | LOCK_NB), "locking reservation " + path.string());
  try {
    write_all(fd.get(), serialize(static_cast<long>(::getpid()), pgpu, type));
  } catch (...) {
    fs::remove(path);
    throw;
  }
  return std::make_unique<Reservation>(dir_, uuid, std::move(fd));
}

}  // namespace xvgpu::gpu
