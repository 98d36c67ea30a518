#include "vendor/simgpu/engine_arbiter.h"

#include <fcntl.h>
#include <linux/futex.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cmath>
#include <ctime>

#include "common/error.h"

namespace xvgpu::simgpu {

namespace table = arbiter_table;

namespace {

// OFD byte-range lock on one byte: per open file description, dropped by the kernel when the
// last descriptor of the description closes (process death included).
int ofd_lock(int fd, off_t byte, short type, bool wait) {
  struct flock fl {};
  fl.l_type = type;
  fl.l_whence = SEEK_SET;
  fl.l_start = byte;
  fl.l_len = 1;
  int rc = 0;
  do {
    rc = ::fcntl(fd, wait ? F_OFD_SETLKW : F_OFD_SETLK, &fl);
  } while (rc < 0 && errno == EINTR);
  return rc;
}

// Waits while *word == expected, at most `timeout`; true when the timeout expired.
bool futex_wait(std::atomic<uint32_t>* word, uint32_t expected, std::chrono::milliseconds timeout) {
  timespec ts{};
  ts.tv_sec = timeout.count() / 1000;
  ts.tv_nsec = (timeout.count() % 1000) * 1000000;
  // Not FUTEX_PRIVATE_FLAG: the word is shared with other processes.
  const long rc =
      ::syscall(SYS_futex, reinterpret_cast<uint32_t*>(word), FUTEX_WAIT, expected, &ts, nullptr, 0);
  return rc < 0 && errno == ETIMEDOUT;
}

void futex_wake_all(std::atomic<uint32_t>* word) {
  (void)::syscall(SYS_futex, reinterpret_cast<uint32_t*>(word), FUTEX_WAKE, INT_MAX, nullptr, nullptr, 0);
}

}  // namespace

std::unique_ptr<EngineArbiter> EngineArbiter::open_shared(const std::filesystem::path& file, uint32_t slots) {
  if (slots == 0 || slots > table::kMaxSlots) {
    throw Error("simgpu engine arbiter: " + std::to_string(slots) + " slots is outside 1.." +
                std::to_string(table::kMaxSlots));
  }
  auto a = std::make_unique<EngineArbiter>(Private{});
  a->file_ = file;
  a->fd_ = UniqueFd(::open(file.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600));
  check_errno(a->fd_.get(), "opening the simgpu engine arbiter table " + file.string());
  const int fd = a->fd_.get();
  // One process at a time creates or checks the layout.
  check_errno(ofd_lock(fd, table::kInitLockByte, F_WRLCK, true), "locking " + file.string());
  if (ofd_lock(fd, table::kUserLockByte, F_WRLCK, false) == 0) {
    // Nobody has the table mapped: whatever the file holds (nothing, a table of a process that
    // died while creating it, another layout version) is stale. Start afresh.
    check_errno(::ftruncate(fd, 0), "truncating " + file.string());
    check_errno(::ftruncate(fd, static_cast<off_t>(table::total_size(slots))), "sizing " + file.string());
    a->map(table::total_size(slots));
    a->init_layout(slots);
  } else if (errno == EAGAIN || errno == EACCES) {
    struct stat st {};
    check_errno(::fstat(fd, &st), "reading " + file.string());
    a->check_layout(static_cast<uint64_t>(st.st_size));
  } else {
    check_errno(-1, "locking " + file.string());
  }
  // Downgrade (or take) the user lock: from now on this process counts as a user.
  check_errno(ofd_lock(fd, table::kUserLockByte, F_RDLCK, true), "locking " + file.string());
  (void)ofd_lock(fd, table::kInitLockByte, F_UNLCK, false);
  a->attach();
  return a;
}

std::unique_ptr<EngineArbiter> EngineArbiter::open_private(uint32_t slots) {
  if (slots == 0 || slots > table::kMaxSlots) {
    throw Error("simgpu engine arbiter: " + std::to_string(slots) + " slots is outside 1.." +
                std::to_string(table::kMaxSlots));
  }
  auto a = std::make_unique<EngineArbiter>(Private{});
  a->map(table::total_size(slots));
  a->init_layout(slots);
  a->attach();
  return a;
}

void EngineArbiter::map(uint64_t size) {
  const int flags = fd_ ? MAP_SHARED : (MAP_PRIVATE | MAP_ANONYMOUS);
  void* p = ::mmap(nullptr, size, PROT_READ | PROT_WRITE, flags, fd_ ? fd_.get() : -1, 0);
  if (p == MAP_FAILED) check_errno(-1, "mapping the simgpu engine arbiter table " + file_.string());
  mapping_ = p;
  mapping_size_ = size;
  header_ = static_cast<table::Header*>(p);
}

void EngineArbiter::init_layout(uint32_t slots) {
  table::Header& h = *header_;
  h.version = table::kLayoutVersion;
  h.header_size = sizeof(table::Header);
  h.entry_size = sizeof(FairShareEntry);
  h.owner_size = sizeof(table::SlotOwner);
  h.slot_count = slots;
  h.mutex_size = sizeof(pthread_mutex_t);
  h.total_size = table::total_size(slots);
  pthread_mutexattr_t attr;
  pthread_mutexattr_init(&attr);
  pthread_mutexattr_setpshared(&attr, PTHREAD_PROCESS_SHARED);
  pthread_mutexattr_setrobust(&attr, PTHREAD_MUTEX_ROBUST);
  const int rc = pthread_mutex_init(&h.mutex, &attr);
  pthread_mutexattr_destroy(&attr);
  if (rc != 0) throw SystemError(rc, "initialising the simgpu engine arbiter lock");
  h.grant_seq.store(0);
  h.holder = table::kNone;
  h.granted = table::kNone;
  // Last, and released after the rest (an atomic store, not a fence: TSan does not model fences).
  std::atomic_ref<uint64_t>(h.magic).store(table::kMagic, std::memory_order_release);
}

void EngineArbiter::check_layout(uint64_t file_size) {
  const std::string what = "simgpu engine arbiter table " + file_.string();
  const std::string in_use =
      " (a running xvgpu process still uses it; stop the vGPUs on this physical GPU "
      "of the other xvgpu build, or remove the file once nothing uses it)";
  if (file_size < sizeof(table::Header)) throw Error(what + " is too short to be an arbiter table" + in_use);
  map(file_size);
  const table::Header& h = *header_;
  if (h.magic != table::kMagic) throw Error(what + " is not an arbiter table (bad magic)" + in_use);
  if (h.version != table::kLayoutVersion) {
    throw Error(what + " has layout version " + std::to_string(h.version) + ", this simgpu uses version " +
                std::to_string(table::kLayoutVersion) + in_use);
  }
  if (h.header_size != sizeof(table::Header) || h.entry_size != sizeof(FairShareEntry) ||
      h.owner_size != sizeof(table::SlotOwner) || h.mutex_size != sizeof(pthread_mutex_t) ||
      h.slot_count == 0 || h.slot_count > table::kMaxSlots ||
      h.total_size != table::total_size(h.slot_count) || h.total_size > file_size) {
    throw Error(what + " has a layout of version " + std::to_string(h.version) +
                " with sizes this build does not share (header " + std::to_string(h.header_size) + ", " +
                std::to_string(h.slot_count) + " slots, " + std::to_string(h.total_size) + " of " +
                std::to_string(file_size) + " bytes)" + in_use);
  }
}

void EngineArbiter::attach() {
  auto* base = static_cast<std::byte*>(mapping_);
  const uint32_t n = header_->slot_count;
  entries_ = std::span(reinterpret_cast<FairShareEntry*>(base + table::entries_offset()), n);
  owners_ = std::span(reinterpret_cast<table::SlotOwner*>(base + table::owners_offset(n)), n);
  owned_.assign(n, false);
}

EngineArbiter::~EngineArbiter() {
  const bool owns_any = std::find(owned_.begin(), owned_.end(), true) != owned_.end();
  if (owns_any && lock_table()) {
    // Slots still here belong to vGPUs that were not destroyed; give them back.
    for (Id id = 0; id < owned_.size(); ++id) {
      if (!owned_[id]) continue;
      if (header_->holder == static_cast<int32_t>(id)) header_->holder = table::kNone;
      if (header_->granted == static_cast<int32_t>(id)) header_->granted = table::kNone;
      policy().remove(id);
      owners_[id] = table::SlotOwner{};
    }
    grant_next_locked();
    unlock_table();
  }
  if (mapping_ != nullptr) ::munmap(mapping_, mapping_size_);
}

void EngineArbiter::log(const std::string& message) const {
  if (log_) log_(message);
}

bool EngineArbiter::lock_table() {
  if (broken_) return false;
  const int rc = pthread_mutex_lock(&header_->mutex);
  if (rc == 0) return true;
  if (rc == EOWNERDEAD) {
    log("simgpu engine arbiter: a process died holding the lock of " + file_.string() + "; recovering");
    recover_locked();
    pthread_mutex_consistent(&header_->mutex);
    return true;
  }
  broken_ = true;
  log("simgpu engine arbiter: the lock of " + file_.string() + " is unusable (" + std::to_string(rc) +
      "); the engine runs without arbitration");
  return false;
}

void EngineArbiter::unlock_table() {
  pthread_mutex_unlock(&header_->mutex);
}

void EngineArbiter::recover_locked() {
  // The dead holder may have stopped half way through an update: drop what cannot be right.
  reap_dead_locked();
  const auto valid = [&](int32_t slot) {
    return slot >= 0 && static_cast<uint32_t>(slot) < entries_.size() && entries_[slot].in_use != 0;
  };
  if (!valid(header_->holder)) header_->holder = table::kNone;
  if (!valid(header_->granted)) header_->granted = table::kNone;
  for (double& v : header_->clock.class_vtime) {
    if (!std::isfinite(v) || v < 0) v = 0;
  }
  for (auto& e : entries_) {
    if (!std::isfinite(e.vtime) || e.vtime < 0) e.vtime = 0;
  }
  grant_next_locked();
}

bool EngineArbiter::owns(Id id) const {
  return id < owned_.size() && owned_[id];
}

bool EngineArbiter::slot_alive_locked(Id id) const {
  if (!fd_ || owns(id)) return true;
  struct flock fl {};
  fl.l_type = F_WRLCK;
  fl.l_whence = SEEK_SET;
  fl.l_start = table::kSlotLockBase + static_cast<off_t>(id);
  fl.l_len = 1;
  if (::fcntl(fd_.get(), F_OFD_GETLK, &fl) < 0) return true;  // cannot tell: leave it
  return fl.l_type != F_UNLCK;
}

bool EngineArbiter::lock_slot_byte(Id id) {
  return !fd_ || ofd_lock(fd_.get(), table::kSlotLockBase + static_cast<off_t>(id), F_WRLCK, false) == 0;
}

void EngineArbiter::unlock_slot_byte(Id id) {
  if (fd_) (void)ofd_lock(fd_.get(), table::kSlotLockBase + static_cast<off_t>(id), F_UNLCK, false);
}

bool EngineArbiter::reap_dead_locked() {
  bool any = false;
  for (Id id = 0; id < entries_.size(); ++id) {
    if (entries_[id].in_use == 0 || slot_alive_locked(id)) continue;
    log("simgpu engine arbiter: slot " + std::to_string(id) + " of process " +
        std::to_string(owners_[id].pid) + " is free again (the process is gone)");
    if (header_->holder == static_cast<int32_t>(id)) header_->holder = table::kNone;
    if (header_->granted == static_cast<int32_t>(id)) header_->granted = table::kNone;
    policy().remove(id);
    owners_[id] = table::SlotOwner{};
    ++header_->slots_reaped;
    any = true;
  }
  return any;
}

void EngineArbiter::grant_next_locked() {
  if (header_->holder != table::kNone || header_->granted != table::kNone) return;
  const auto next = policy().pick();
  if (!next) return;
  header_->granted = static_cast<int32_t>(*next);
  // A contender that is not waiting yet (it released with `more`) finds the grant on arrival.
  if (owners_[*next].waiting != 0) wake_all();
}

void EngineArbiter::wake_all() {
  header_->grant_seq.fetch_add(1, std::memory_order_release);
  futex_wake_all(&header_->grant_seq);
}

EngineArbiter::Id EngineArbiter::add(uint32_t weight, EnginePriority priority) {
  if (!lock_table())
    throw Error("simgpu engine arbiter: the table lock of " + file_.string() + " is unusable");
  for (int pass = 0; pass < 2; ++pass) {
    for (Id id = 0; id < entries_.size(); ++id) {
      // A free slot whose byte is still locked is being given back by its old owner.
      if (entries_[id].in_use != 0 || !lock_slot_byte(id)) continue;
      policy().add(id, weight, priority);
      owners_[id] = table::SlotOwner{};
      owners_[id].pid = ::getpid();
      owned_[id] = true;
      unlock_table();
      return id;
    }
    if (!reap_dead_locked()) break;
  }
  const auto n = entries_.size();
  unlock_table();
  throw Error("simgpu engine arbiter: all " + std::to_string(n) + " slots of " +
              (fd_ ? file_.string() : std::string("this process's table")) +
              " are taken by live vGPUs of this physical GPU; destroy one first");
}

void EngineArbiter::remove(Id id) {
  if (!lock_table()) return;
  if (owns(id)) {
    if (header_->holder == static_cast<int32_t>(id)) header_->holder = table::kNone;
    if (header_->granted == static_cast<int32_t>(id)) header_->granted = table::kNone;
    policy().remove(id);
    owners_[id] = table::SlotOwner{};
    owned_[id] = false;
    unlock_slot_byte(id);
    grant_next_locked();
  }
  unlock_table();
}

void EngineArbiter::set_weight(Id id, uint32_t weight) {
  if (!lock_table()) return;
  if (owns(id)) policy().set_weight(id, weight);
  unlock_table();
}

void EngineArbiter::set_priority(Id id, EnginePriority priority) {
  if (!lock_table()) return;
  if (owns(id)) policy().set_priority(id, priority);
  unlock_table();
}

void EngineArbiter::acquire(Id id) {
  if (!lock_table()) return;
  if (!owns(id)) {
    unlock_table();
    return;
  }
  owners_[id].waiting = 1;
  policy().set_runnable(id, true);
  grant_next_locked();
  while (header_->granted != static_cast<int32_t>(id)) {
    const uint32_t seq = header_->grant_seq.load(std::memory_order_acquire);
    unlock_table();
    const bool timed_out = futex_wait(&header_->grant_seq, seq, kLivenessCheck);
    if (!lock_table()) return;
    if (timed_out && header_->granted != static_cast<int32_t>(id)) {
      // Nothing moved for a while: the holder (or the one granted) may have died.
      reap_dead_locked();
      grant_next_locked();
    }
  }
  header_->granted = table::kNone;
  header_->holder = static_cast<int32_t>(id);
  owners_[id].waiting = 0;
  ++owners_[id].grants;
  unlock_table();
}

void EngineArbiter::release(Id id, uint64_t cost, bool more) {
  if (!lock_table()) return;
  if (owns(id)) {
    policy().charge(id, cost);
    owners_[id].cost += cost;
    if (header_->holder == static_cast<int32_t>(id)) header_->holder = table::kNone;
    // A holder coming straight back stays runnable; otherwise only the waiters contend.
    policy().set_runnable(id, more || owners_[id].waiting != 0);
    grant_next_locked();
  }
  unlock_table();
}

void EngineArbiter::withdraw(Id id) {
  if (!lock_table()) return;
  if (owns(id) && owners_[id].waiting == 0) {
    policy().set_runnable(id, false);
    if (header_->granted == static_cast<int32_t>(id)) {
      header_->granted = table::kNone;
      grant_next_locked();
    }
  }
  unlock_table();
}

EngineArbiter::Snapshot EngineArbiter::snapshot() {
  Snapshot s;
  s.capacity = static_cast<uint32_t>(entries_.size());
  if (!lock_table()) return s;
  for (Id id = 0; id < entries_.size(); ++id) {
    const FairShareEntry& e = entries_[id];
    if (e.in_use == 0) continue;
    SlotView v;
    v.slot = id;
    v.pid = owners_[id].pid;
    v.weight = e.weight;
    v.priority = static_cast<EnginePriority>(e.priority);
    v.runnable = e.runnable != 0;
    v.grants = owners_[id].grants;
    v.cost = owners_[id].cost;
    s.slots.push_back(v);
  }
  s.slots_reaped = header_->slots_reaped;
  unlock_table();
  return s;
}

}  // namespace xvgpu::simgpu
