// The engine arbiter across processes: forked processes share one table file, as the
// xvgpu-dm processes of different guests on one physical simgpu do. Shares are measured by
// counting grants while both sides contend the whole time (the grant order then follows the
// policy exactly, whatever the timing), never by elapsed time.
#include "vendor/simgpu/engine_arbiter.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <functional>
#include <thread>

#include "common/error.h"
#include "common/unique_fd.h"
#include "test_host.h"
#include "vendor/simgpu/knobs.h"
#include "vendor/simgpu/simgpu_types.h"
#include "vendor/simgpu/simgpu_vendor.h"

namespace xvgpu::simgpu {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

constexpr auto kDeadline = 20s;  // generous: only a broken arbiter comes near it

// A private directory for one test's table files.
class TempDir {
 public:
  TempDir() {
    std::string tmpl = (fs::temp_directory_path() / "simgpu-arbiter-XXXXXX").string();
    if (::mkdtemp(tmpl.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
    path_ = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  [[nodiscard]] const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

// Coordination between the test and its child processes (anonymous shared memory).
struct Control {
  std::atomic<int> ready{0};
  std::atomic<int> phase{0};
  std::atomic<int> acks{0};
  std::atomic<int> stop{0};
  std::atomic<int> acquired{0};
};

class Shared {
 public:
  Shared() {
    void* p = ::mmap(nullptr, sizeof(Control), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) throw std::runtime_error("mmap failed");
    ctl_ = new (p) Control;  // NOLINT(cppcoreguidelines-owning-memory): lives in the mapping
  }
  ~Shared() { ::munmap(ctl_, sizeof(Control)); }
  Shared(const Shared&) = delete;
  Shared& operator=(const Shared&) = delete;
  Control* operator->() const { return ctl_; }

 private:
  Control* ctl_ = nullptr;
};

// Runs body in a child process; the child exits 0 if body returns, 1 if it throws.
pid_t spawn(const std::function<void()>& body) {
  const pid_t pid = ::fork();
  if (pid == 0) {
    int rc = 0;
    try {
      body();
    } catch (const std::exception& e) {
      (void)std::fprintf(stderr, "child %d: %s\n", ::getpid(), e.what());
      rc = 1;
    }
    (void)std::fflush(stderr);
    ::_exit(rc);
  }
  return pid;
}

// The child's exit code; kills it and returns -1 if it is still running after `limit`.
int wait_exit(pid_t pid, std::chrono::milliseconds limit = kDeadline) {
  const auto end = std::chrono::steady_clock::now() + limit;
  int status = 0;
  for (;;) {
    const pid_t r = ::waitpid(pid, &status, WNOHANG);
    if (r == pid) return WIFEXITED(status) ? WEXITSTATUS(status) : -2;
    if (std::chrono::steady_clock::now() > end) {
      ::kill(pid, SIGKILL);
      ::waitpid(pid, &status, 0);
      return -1;
    }
    std::this_thread::sleep_for(5ms);
  }
}

void kill_and_reap(pid_t pid) {
  ::kill(pid, SIGKILL);
  int status = 0;
  ::waitpid(pid, &status, 0);
}

bool wait_for(const std::function<bool()>& condition, std::chrono::milliseconds limit = kDeadline) {
  const auto end = std::chrono::steady_clock::now() + limit;
  while (!condition()) {
    if (std::chrono::steady_clock::now() > end) return false;
    std::this_thread::sleep_for(1ms);
  }
  return true;
}

uint64_t grants_of(const EngineArbiter::Snapshot& s, pid_t pid) {
  for (const auto& v : s.slots) {
    if (v.pid == pid) return v.grants;
  }
  return 0;
}

// A process with one vGPU that keeps the engine busy: it acquires, "runs" a descriptor of
// fixed cost and comes straight back, until told to stop. In phase 1 it applies `then`.
struct Contender {
  uint32_t weight = 100;
  EnginePriority priority = EnginePriority::Foreground;
  std::function<void(EngineArbiter&, EngineArbiter::Id)> then;
};

pid_t start_contender(const fs::path& file, Shared& ctl, const Contender& c) {
  return spawn([&file, &ctl, c] {
    auto arb = EngineArbiter::open_shared(file);
    const auto id = arb->add(c.weight, c.priority);
    ctl->ready.fetch_add(1);
    bool applied = false;
    while (ctl->stop.load() == 0) {
      arb->acquire(id);
      arb->release(id, 4096, /*more=*/true);
      if (!applied && ctl->phase.load() == 1) {
        if (c.then) c.then(*arb, id);
        applied = true;
        ctl->acks.fetch_add(1);
      }
    }
    arb->withdraw(id);
    arb->remove(id);
  });
}

// A new vGPU of the calling process that has acquired the engine (acquire waits its turn).
std::unique_ptr<EngineArbiter> with_engine_acquired(const fs::path& file) {
  auto arb = EngineArbiter::open_shared(file);
  arb->acquire(arb->add(100, EnginePriority::Foreground));
  return arb;
}

// One descriptor of a new vGPU: added, the engine acquired (then ctl->acquired set to 1, when
// ctl is given), released, removed.
void run_one_job(const fs::path& file, Shared* ctl) {
  auto arb = EngineArbiter::open_shared(file);
  const auto id = arb->add(100, EnginePriority::Foreground);
  arb->acquire(id);
  if (ctl != nullptr) (*ctl)->acquired = 1;
  arb->release(id, 4096, false);
  arb->remove(id);
}

// Processes sharing one table file, watched by the test's own arbiter.
class EngineArbiterAcrossProcesses : public ::testing::Test {
 protected:
  TempDir dir;
  const fs::path file = dir.path() / "simgpu0.engine";
  std::unique_ptr<EngineArbiter> observer = EngineArbiter::open_shared(file);
  Shared ctl;
};

// Grants of (a, b) while at least `total` more grants happen, counted from an atomic snapshot
// taken after both already got some (so both are contending throughout the window).
std::pair<double, double> measure(EngineArbiter& observer, pid_t a, pid_t b, uint64_t total) {
  EXPECT_TRUE(wait_for([&] {
    const auto s = observer.snapshot();
    return grants_of(s, a) > 20 && grants_of(s, b) > 20;
  }));
  const auto s0 = observer.snapshot();
  EXPECT_TRUE(wait_for([&] {
    const auto s = observer.snapshot();
    return grants_of(s, a) + grants_of(s, b) >= grants_of(s0, a) + grants_of(s0, b) + total;
  }));
  const auto s1 = observer.snapshot();
  return {static_cast<double>(grants_of(s1, a) - grants_of(s0, a)),
          static_cast<double>(grants_of(s1, b) - grants_of(s0, b))};
}

TEST_F(EngineArbiterAcrossProcesses, GrantsFollowWeightsAndRuntimeChanges) {
  const pid_t a = start_contender(
      file, ctl, {100, EnginePriority::Foreground, [](EngineArbiter& arb, EngineArbiter::Id id) {
                    arb.set_weight(id, 300);
                  }});
  const pid_t b = start_contender(
      file, ctl, {300, EnginePriority::Foreground, [](EngineArbiter& arb, EngineArbiter::Id id) {
                    arb.set_weight(id, 100);
                  }});
  const auto [a1, b1] = measure(*observer, a, b, 4000);
  EXPECT_NEAR(b1 / a1, 3.0, 0.05) << "weights 1:3: A " << a1 << ", B " << b1 << " grants";

  ctl->phase = 1;  // each process changes its own weight at run time: A 300, B 100
  EXPECT_TRUE(wait_for([&] { return ctl->acks.load() == 2; }));
  const auto [a2, b2] = measure(*observer, a, b, 4000);
  EXPECT_NEAR(a2 / b2, 3.0, 0.05) << "weights 3:1: A " << a2 << ", B " << b2 << " grants";

  ctl->stop = 1;
  EXPECT_EQ(wait_exit(a), 0);
  EXPECT_EQ(wait_exit(b), 0);
  EXPECT_TRUE(observer->snapshot().slots.empty()) << "both processes gave their slots back";
}

TEST_F(EngineArbiterAcrossProcesses, ForegroundFirstBackgroundNeverStarved) {
  const pid_t bg = start_contender(
      file, ctl, {100, EnginePriority::Background, [](EngineArbiter& arb, EngineArbiter::Id id) {
                    arb.set_priority(id, EnginePriority::Foreground);
                  }});
  const pid_t fg = start_contender(file, ctl, {100, EnginePriority::Foreground, {}});
  const auto [bg1, fg1] = measure(*observer, bg, fg, 3200);
  // One contested turn in kBackgroundTurnEvery goes to the background vGPU.
  EXPECT_NEAR(bg1 / (bg1 + fg1), 1.0 / FairShare::kBackgroundTurnEvery, 0.005)
      << "background " << bg1 << ", foreground " << fg1 << " grants";

  ctl->phase = 1;  // the background process turns itself foreground: equal weights, equal share
  EXPECT_TRUE(wait_for([&] { return ctl->acks.load() == 2; }));
  const auto [bg2, fg2] = measure(*observer, bg, fg, 3200);
  EXPECT_NEAR(bg2 / fg2, 1.0, 0.05) << "now both foreground: " << bg2 << " vs " << fg2;

  ctl->stop = 1;
  EXPECT_EQ(wait_exit(bg), 0);
  EXPECT_EQ(wait_exit(fg), 0);
}

TEST_F(EngineArbiterAcrossProcesses, HolderKilledWithSigkillDoesNotBlockOthers) {
  const pid_t holder = spawn([&] {
    auto arb = with_engine_acquired(file);
    ctl->ready = 1;
    for (;;) ::pause();  // holds the engine until killed
  });
  ASSERT_TRUE(wait_for([&] { return ctl->ready.load() == 1; }));
  const pid_t waiter = spawn([&] { run_one_job(file, &ctl); });
  // The waiter is blocked while the holder lives: one descriptor at a time.
  std::this_thread::sleep_for(200ms);
  EXPECT_EQ(ctl->acquired.load(), 0);
  kill_and_reap(holder);
  EXPECT_EQ(wait_exit(waiter), 0) << "the waiter must get the engine once the holder is gone";
  EXPECT_EQ(ctl->acquired.load(), 1);
  const auto s = observer->snapshot();
  EXPECT_TRUE(s.slots.empty());
  EXPECT_EQ(s.slots_reaped, 1u) << "the killed holder's slot was taken back";
}

TEST_F(EngineArbiterAcrossProcesses, ProcessKilledHoldingTheTableLockIsRecovered) {
  const pid_t holder = spawn([&] {
    auto arb = with_engine_acquired(file);
    // Die in the middle of a table update: the table's own lock is held too.
    UniqueFd fd(::open(file.c_str(), O_RDWR | O_CLOEXEC));
    void* p = ::mmap(nullptr, sizeof(arbiter_table::Header), PROT_READ | PROT_WRITE, MAP_SHARED, fd.get(), 0);
    if (p == MAP_FAILED) throw std::runtime_error("mmap");
    pthread_mutex_lock(&static_cast<arbiter_table::Header*>(p)->mutex);
    ctl->ready = 1;
    for (;;) ::pause();
  });
  ASSERT_TRUE(wait_for([&] { return ctl->ready.load() == 1; }));
  kill_and_reap(holder);
  const pid_t next = spawn([&] { run_one_job(file, nullptr); });
  EXPECT_EQ(wait_exit(next), 0) << "the next process recovers the lock and the engine";
  const auto s = observer->snapshot();
  EXPECT_TRUE(s.slots.empty());
  EXPECT_EQ(s.slots_reaped, 1u);
}

TEST_F(EngineArbiterAcrossProcesses, WaiterKilledWhileWaitingDoesNotBlockOthers) {
  const pid_t holder = spawn([&] {
    auto arb = EngineArbiter::open_shared(file);
    const auto id = arb->add(100, EnginePriority::Foreground);
    arb->acquire(id);
    ctl->ready = 1;
    while (ctl->stop.load() == 0) std::this_thread::sleep_for(1ms);
    arb->release(id, 4096, false);  // the engine goes to the next in line: the dead waiter
    arb->remove(id);
  });
  ASSERT_TRUE(wait_for([&] { return ctl->ready.load() == 1; }));
  const auto runnable = [&](size_t n) {
    const auto s = observer->snapshot();
    size_t count = 0;
    for (const auto& v : s.slots) count += v.runnable ? 1 : 0;
    return count == n;
  };
  const pid_t doomed = spawn([&] {
    auto arb = with_engine_acquired(file);
    ctl->acquired = 99;  // must never happen: it is killed while waiting
  });
  ASSERT_TRUE(wait_for([&] { return runnable(2); }));
  kill_and_reap(doomed);
  const pid_t survivor = spawn([&] { run_one_job(file, &ctl); });
  ASSERT_TRUE(wait_for([&] { return runnable(3); }));
  ctl->stop = 1;
  EXPECT_EQ(wait_exit(holder), 0);
  EXPECT_EQ(wait_exit(survivor), 0);
  EXPECT_EQ(ctl->acquired.load(), 1);
  EXPECT_EQ(observer->snapshot().slots_reaped, 1u);
}

TEST(EngineArbiter, FullTableIsAClearErrorAndDeadSlotsComeBack) {
  TempDir dir;
  const fs::path file = dir.path() / "simgpu0.engine";
  auto mine = EngineArbiter::open_shared(file, 2);
  auto other = EngineArbiter::open_shared(file, 64);  // the existing table keeps its 2 slots
  const auto a = mine->add(100, EnginePriority::Foreground);
  (void)other->add(100, EnginePriority::Foreground);
  try {
    (void)other->add(100, EnginePriority::Foreground);
    ADD_FAILURE() << "a third vGPU must not fit in 2 slots";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("all 2 slots"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find(file.string()), std::string::npos) << e.what();
  }
  mine->remove(a);
  EXPECT_NO_THROW((void)other->add(100, EnginePriority::Foreground));
  EXPECT_EQ(other->snapshot().slots.size(), 2u);

  // Slots of a process that died without giving them back are reclaimed when needed.
  TempDir dir2;
  const fs::path file2 = dir2.path() / "simgpu0.engine";
  auto table = EngineArbiter::open_shared(file2, 2);
  Shared ctl;
  const pid_t hog = spawn([&] {
    auto arb = EngineArbiter::open_shared(file2);
    (void)arb->add(100, EnginePriority::Foreground);
    (void)arb->add(100, EnginePriority::Foreground);
    ctl->ready = 1;
    for (;;) ::pause();
  });
  ASSERT_TRUE(wait_for([&] { return ctl->ready.load() == 1; }));
  EXPECT_THROW((void)table->add(100, EnginePriority::Foreground), Error) << "full while the hog lives";
  kill_and_reap(hog);
  EXPECT_NO_THROW((void)table->add(100, EnginePriority::Foreground));
  EXPECT_EQ(table->snapshot().slots_reaped, 2u);
}

// Writes a table header of another layout version and keeps the file "in use" (a user lock,
// as a live process of that version would hold).
class ForeignTable {
 public:
  ForeignTable(const fs::path& file, uint64_t magic, uint32_t version) {
    fd_ = UniqueFd(::open(file.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600));
    std::vector<uint8_t> bytes(4096, 0);
    std::memcpy(bytes.data(), &magic, sizeof magic);
    std::memcpy(bytes.data() + 8, &version, sizeof version);
    if (::pwrite(fd_.get(), bytes.data(), bytes.size(), 0) != static_cast<ssize_t>(bytes.size()))
      throw std::runtime_error("pwrite");
    struct flock fl {};
    fl.l_type = F_RDLCK;
    fl.l_whence = SEEK_SET;
    fl.l_start = arbiter_table::kUserLockByte;
    fl.l_len = 1;
    if (::fcntl(fd_.get(), F_OFD_SETLK, &fl) != 0) throw std::runtime_error("lock");
  }
  void stop_using() { fd_.reset(); }

 private:
  UniqueFd fd_;
};

TEST(EngineArbiter, LayoutVersionMismatchIsAClearError) {
  TempDir dir;
  const fs::path file = dir.path() / "simgpu0.engine";
  ForeignTable foreign(file, arbiter_table::kMagic, 99);
  try {
    (void)EngineArbiter::open_shared(file);
    ADD_FAILURE() << "a table of layout version 99 in use must be refused";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("layout version 99"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("uses version 1"), std::string::npos) << e.what();
  }
  // Once nobody uses the old table, it is stale: the next process starts a new one.
  foreign.stop_using();
  auto arb = EngineArbiter::open_shared(file);
  EXPECT_TRUE(arb->host_wide());
  EXPECT_NO_THROW((void)arb->add(100, EnginePriority::Foreground));
}

TEST(EngineArbiter, ForeignFileInUseIsRefused) {
  TempDir dir;
  const fs::path file = dir.path() / "simgpu0.engine";
  ForeignTable foreign(file, 0x1122334455667788, 1);
  try {
    (void)EngineArbiter::open_shared(file);
    ADD_FAILURE() << "a file without the magic must be refused";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("bad magic"), std::string::npos) << e.what();
  }
}

TEST(EngineArbiter, PrivateTableIsTheSamePolicyInOneProcess) {
  auto arb = EngineArbiter::open_private(4);
  EXPECT_FALSE(arb->host_wide());
  const auto a = arb->add(100, EnginePriority::Foreground);
  const auto b = arb->add(300, EnginePriority::Foreground);
  std::atomic<bool> stop{false};
  const auto loop = [&](EngineArbiter::Id id) {
    while (!stop.load()) {
      arb->acquire(id);
      arb->release(id, 4096, true);
    }
    arb->withdraw(id);
  };
  std::thread ta(loop, a);
  std::thread tb(loop, b);
  const auto grants = [&](EngineArbiter::Id id) {
    for (const auto& v : arb->snapshot().slots) {
      if (v.slot == id) return v.grants;
    }
    return uint64_t{0};
  };
  ASSERT_TRUE(wait_for([&] { return grants(a) > 20 && grants(b) > 20; }));
  const uint64_t a0 = grants(a);
  const uint64_t b0 = grants(b);
  // Read both in one snapshot for the end of the window.
  ASSERT_TRUE(wait_for([&] { return grants(a) + grants(b) >= a0 + b0 + 4000; }));
  const auto s = arb->snapshot();
  stop = true;
  ta.join();
  tb.join();
  double da = 0;
  double db = 0;
  for (const auto& v : s.slots) {
    if (v.slot == a) da = static_cast<double>(v.grants - a0);
    if (v.slot == b) db = static_cast<double>(v.grants - b0);
  }
  EXPECT_NEAR(db / da, 3.0, 0.05);
}

// The vendor finds the host-wide table in the core's state directory convention.
TEST(EngineArbiterInTheVendor, VgpusTakeSlotsInTheStateDirectoryTable) {
  TempDir dir;
  ::setenv("XVGPU_STATE_DIR", dir.path().c_str(), 1);
  {
    test::TestHost host;
    ASSERT_EQ(host.load(simgpu_vendor()), 0);
    const fs::path file = dir.path() / "simgpu" / "simgpu0.engine";
    xvgpu_knob_value weight{kKnobEngineWeight, 0, 250, nullptr};
    auto* inst = host.create(0, {weight});
    ASSERT_NE(inst, nullptr);
    ASSERT_TRUE(fs::exists(file));
    auto observer = EngineArbiter::open_shared(file);
    auto s = observer->snapshot();
    ASSERT_EQ(s.slots.size(), 1u);
    EXPECT_EQ(s.slots[0].pid, ::getpid());
    EXPECT_EQ(s.slots[0].weight, 250u);
    xvgpu_knob_value change{kKnobPriority, 0, 1, nullptr};
    xvgpu_error err{};
    ASSERT_EQ(host.ops(inst).knob_set(inst->vgpu_data, &change, &err), 0);
    EXPECT_EQ(observer->snapshot().slots[0].priority, EnginePriority::Background);
    host.destroy(inst);
    EXPECT_TRUE(observer->snapshot().slots.empty());
  }
  ::unsetenv("XVGPU_STATE_DIR");
}

TEST(EngineArbiterInTheVendor, FullOrForeignTableFailsCreateWithAMessage) {
  TempDir dir;
  ::setenv("XVGPU_STATE_DIR", dir.path().c_str(), 1);
  fs::create_directories(dir.path() / "simgpu");
  {
    // Another process filled a 1-slot table.
    auto other = EngineArbiter::open_shared(dir.path() / "simgpu" / "simgpu0.engine", 1);
    (void)other->add(100, EnginePriority::Foreground);
    test::TestHost host;
    ASSERT_EQ(host.load(simgpu_vendor()), 0);
    int rc = 0;
    xvgpu_error err{};
    EXPECT_EQ(host.create(0, {}, &rc, &err), nullptr);
    EXPECT_LT(rc, 0);
    EXPECT_NE(std::string(err.message).find("slots"), std::string::npos) << err.message;
  }
  {
    ForeignTable foreign(dir.path() / "simgpu" / "simgpu0.engine", arbiter_table::kMagic, 7);
    test::TestHost host;
    ASSERT_EQ(host.load(simgpu_vendor()), 0);
    int rc = 0;
    xvgpu_error err{};
    EXPECT_EQ(host.create(0, {}, &rc, &err), nullptr);
    EXPECT_NE(std::string(err.message).find("layout version 7"), std::string::npos) << err.message;
  }
  ::unsetenv("XVGPU_STATE_DIR");
}

}  // namespace
}  // namespace xvgpu::simgpu
