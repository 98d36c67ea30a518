// Host-wide accounting: capacity and UUID uniqueness across processes (fork), and recovery of
// the reservations of a process killed with SIGKILL.
#include "gpu/host_accounting.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "temp_dir.h"

namespace xvgpu::gpu {
namespace {

PgpuInfo test_pgpu() {
  PgpuInfo p;
  p.vendor = "acme";
  p.name = "gpu0";
  p.resources = {{"vram", 1024}};
  TypeInfo small;
  small.name = "small";
  small.costs = {256};
  TypeInfo big;
  big.name = "big";
  big.costs = {512};
  big.max_instances = 1;
  p.types = {small, big};
  return p;
}

std::string uuid(int i) {
  char buf[40];
  std::snprintf(buf, sizeof buf, "00000000-0000-4000-8000-%012d", i);
  return buf;
}

size_t files_in(const std::filesystem::path& dir) {
  size_t n = 0;
  for ([[maybe_unused]] const auto& e : std::filesystem::directory_iterator(dir / "reservations")) ++n;
  return n;
}

TEST(HostAccounting, CapacityAcrossTypes) {
  test::TempDir dir;
  HostAccounting acc(dir.path());
  const auto p = test_pgpu();
  auto a = acc.reserve(uuid(1), p, p.types[1]);  // big: 512
  EXPECT_THROW(acc.reserve(uuid(2), p, p.types[1]), NoCapacityError) << "max_instances 1";
  auto b = acc.reserve(uuid(3), p, p.types[0]);
  auto c = acc.reserve(uuid(4), p, p.types[0]);
  try {
    acc.reserve(uuid(5), p, p.types[0]);
    FAIL();
  } catch (const NoCapacityError& e) {
    EXPECT_STREQ(e.what(),
                 "no capacity for another small on acme/gpu0: resource 'vram': 1024 of 1024 in use, the type "
                 "needs 256");
  }
  const auto usage = acc.usage("acme", "gpu0");
  EXPECT_EQ(usage.used.at("vram"), 1024u);
  EXPECT_EQ(usage.instances.at("small"), 2u);
  EXPECT_EQ(accounting_available(p, p.types[0], usage), 0u);
  b.reset();
  EXPECT_EQ(accounting_available(p, p.types[0], acc.usage("acme", "gpu0")), 1u);
  EXPECT_EQ(files_in(dir.path()), 2u);
}

TEST(HostAccounting, UuidIsUniqueAndChecked) {
  test::TempDir dir;
  HostAccounting acc(dir.path());
  const auto p = test_pgpu();
  auto a = acc.reserve(uuid(1), p, p.types[0]);
  try {
    acc.reserve(uuid(1), p, p.types[0]);
    FAIL();
  } catch (const UuidInUseError& e) {
    EXPECT_NE(std::string(e.what()).find("already in use (process " + std::to_string(::getpid())),
              std::string::npos)
        << e.what();
  }
  EXPECT_THROW(acc.reserve("../../etc/passwd", p, p.types[0]), Error);
  EXPECT_THROW(acc.reserve("AAAAAAAA-0000-4000-8000-000000000001", p, p.types[0]), Error) << "canonical only";
}

// Runs `children` processes that each try one reservation at the same moment, keep it until
// told to exit, and report 'y' (reserved), 'n' (no capacity), 'u' (uuid in use) or 'e'.
std::string race(const std::filesystem::path& dir, int children, bool same_uuid) {
  int go[2];
  int results[2];
  int hold[2];
  EXPECT_EQ(::pipe(go), 0);
  EXPECT_EQ(::pipe(results), 0);
  EXPECT_EQ(::pipe(hold), 0);
  std::vector<pid_t> pids;
  for (int i = 0; i < children; ++i) {
    const pid_t pid = ::fork();
    if (pid == 0) {
      ::close(go[1]);
      ::close(results[0]);
      ::close(hold[1]);
      char c = 0;
      (void)::read(go[0], &c, 1);  // EOF when the parent closes: everyone starts together
      char r = 'e';
      std::unique_ptr<Reservation> res;
      try {
        HostAccounting acc(dir);
        const auto p = test_pgpu();
        res = acc.reserve(uuid(same_uuid ? 7 : 100 + i), p, p.types[0]);
        r = 'y';
      } catch (const NoCapacityError&) {
        r = 'n';
      } catch (const UuidInUseError&) {
        r = 'u';
      } catch (...) {
        r = 'e';
      }
      (void)::write(results[1], &r, 1);
      (void)::read(hold[0], &c, 1);  // keep the reservation until the parent has counted
      ::_exit(0);                    // no destructors: the kernel drops the flock
    }
    pids.push_back(pid);
  }
  ::close(go[0]);
  ::close(results[1]);
  ::close(hold[0]);
  ::close(go[1]);
  std::string got;
  char c = 0;
  while (got.size() < static_cast<size_t>(children) && ::read(results[0], &c, 1) == 1) got += c;
  // While the children hold their reservations, this process sees them too.
  HostAccounting acc(dir);
  const size_t live = acc.list().size();
  ::close(hold[1]);
  for (pid_t pid : pids) ::waitpid(pid, nullptr, 0);
  ::close(results[0]);
  EXPECT_EQ(live, static_cast<size_t>(std::count(got.begin(), got.end(), 'y')));
  std::sort(got.begin(), got.end());
  return got;
}

TEST(HostAccounting, ConcurrentCreationFromSeveralProcessesNeverOvercommits) {
  test::TempDir dir;
  // vram 1024, small costs 256: exactly 4 of 10 simultaneous creations succeed.
  EXPECT_EQ(race(dir.path(), 10, false), "nnnnnnyyyy");
  // The children exited without releasing: their files are stale and the next scan drops them.
  HostAccounting acc(dir.path());
  EXPECT_TRUE(acc.list().empty());
  EXPECT_EQ(files_in(dir.path()), 0u);
}

TEST(HostAccounting, SameUuidFromSeveralProcessesOnlyOnce) {
  test::TempDir dir;
  EXPECT_EQ(race(dir.path(), 6, true), "uuuuuy");
}

TEST(HostAccounting, SigkilledProcessesReservationsAreRecovered) {
  test::TempDir dir;
  int ready[2];
  ASSERT_EQ(::pipe(ready), 0);
  const pid_t pid = ::fork();
  if (pid == 0) {
    ::close(ready[0]);
    HostAccounting acc(dir.path());
    const auto p = test_pgpu();
    std::vector<std::unique_ptr<Reservation>> held;
    for (int i = 0; i < 4; ++i) held.push_back(acc.reserve(uuid(i), p, p.types[0]));
    (void)::write(ready[1], "r", 1);
    for (;;) ::pause();
  }
  ::close(ready[1]);
  char c = 0;
  ASSERT_EQ(::read(ready[0], &c, 1), 1);
  ::close(ready[0]);
  HostAccounting acc(dir.path());
  const auto p = test_pgpu();
  EXPECT_THROW(acc.reserve(uuid(9), p, p.types[0]), NoCapacityError);
  EXPECT_THROW(acc.reserve(uuid(0), p, p.types[0]), UuidInUseError);
  EXPECT_EQ(acc.list().size(), 4u);
  ::kill(pid, SIGKILL);
  ::waitpid(pid, nullptr, 0);
  // Nothing leaked: capacity and the UUIDs are available again.
  auto a = acc.reserve(uuid(0), p, p.types[0]);
  auto b = acc.reserve(uuid(9), p, p.types[0]);
  EXPECT_EQ(acc.list().size(), 2u);
  EXPECT_EQ(files_in(dir.path()), 2u);
  const auto records = acc.list();
  for (const auto& r : records) EXPECT_EQ(r.pid, ::getpid());
}

// A VM's reboot: the next domain's device model reserves the VM's vGPU while the previous
// domain's one still holds it. reserve() waits for that predecessor, and only for it.
constexpr const char* kVmUuid = "11111111-2222-4333-8444-555555555555";

TEST(HostAccounting, RecordsTheOwner) {
  test::TempDir dir;
  HostAccounting acc(dir.path());
  const auto p = test_pgpu();
  auto a = acc.reserve(uuid(1), p, p.types[0], ReservationOwner{5, kVmUuid, "web1"});
  const auto records = acc.list();
  ASSERT_EQ(records.size(), 1u);
  EXPECT_EQ(records[0].owner.domid, 5);
  EXPECT_EQ(records[0].owner.vm_uuid, kVmUuid);
  EXPECT_EQ(records[0].owner.vm_name, "web1");
  // A name that would split the record is left out, not written.
  auto b = acc.reserve(uuid(2), p, p.types[0], ReservationOwner{6, "", "bad\nname"});
  for (const auto& r : acc.list()) {
    if (r.uuid == uuid(2)) {
      EXPECT_EQ(r.owner.vm_name, "");
    }
  }
}

TEST(HostAccounting, NextDomainOfTheSameVmWaitsForThePredecessor) {
  test::TempDir dir;
  HostAccounting acc(dir.path());
  const auto p = test_pgpu();
  auto old = acc.reserve(uuid(1), p, p.types[0], ReservationOwner{5, kVmUuid, "web1"});
  std::thread teardown([&old] {
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    old.reset();
  });
  const auto t0 = std::chrono::steady_clock::now();
  std::unique_ptr<Reservation> next;
  EXPECT_NO_THROW(next = acc.reserve(uuid(1), p, p.types[0], ReservationOwner{6, kVmUuid, "web1"}));
  const auto waited = std::chrono::steady_clock::now() - t0;
  teardown.join();
  ASSERT_NE(next, nullptr);
  EXPECT_GE(waited, std::chrono::milliseconds(250));
  const auto records = acc.list();
  ASSERT_EQ(records.size(), 1u);
  EXPECT_EQ(records[0].owner.domid, 6);
}

TEST(HostAccounting, PredecessorIsRecognisedByNameToo) {
  test::TempDir dir;
  HostAccounting acc(dir.path());
  const auto p = test_pgpu();
  auto old = acc.reserve(uuid(1), p, p.types[0], ReservationOwner{5, "", "web1"});
  std::thread teardown([&old] {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    old.reset();
  });
  EXPECT_NO_THROW(acc.reserve(uuid(1), p, p.types[0], ReservationOwner{6, kVmUuid, "web1"}));
  teardown.join();
}

TEST(HostAccounting, AnotherVmOrTheSameDomainIsRefusedAtOnce) {
  test::TempDir dir;
  HostAccounting acc(dir.path());
  const auto p = test_pgpu();
  auto held = acc.reserve(uuid(1), p, p.types[0], ReservationOwner{5, kVmUuid, "web1"});
  for (const auto& other : {ReservationOwner{6, "99999999-2222-4333-8444-555555555555", "db1"},
                            ReservationOwner{5, kVmUuid, "web1"}, ReservationOwner{}}) {
    const auto t0 = std::chrono::steady_clock::now();
    try {
      acc.reserve(uuid(1), p, p.types[0], other);
      FAIL() << "domain " << other.domid;
    } catch (const UuidInUseError& e) {
      EXPECT_NE(std::string(e.what()).find(", domain 5)"), std::string::npos) << e.what();
    }
    EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::milliseconds(200)) << "no waiting";
  }
}

TEST(HostAccounting, PredecessorThatNeverLetsGoFailsAfterTheWait) {
  test::TempDir dir;
  HostAccounting acc(dir.path());
  acc.set_handover_wait(std::chrono::milliseconds(200));
  const auto p = test_pgpu();
  auto held = acc.reserve(uuid(1), p, p.types[0], ReservationOwner{5, kVmUuid, "web1"});
  const auto t0 = std::chrono::steady_clock::now();
  try {
    acc.reserve(uuid(1), p, p.types[0], ReservationOwner{6, kVmUuid, "web1"});
    FAIL();
  } catch (const UuidInUseError& e) {
    EXPECT_NE(std::string(e.what()).find("the VM's previous domain): not released within 200 ms"),
              std::string::npos)
        << e.what();
  }
  EXPECT_GE(std::chrono::steady_clock::now() - t0, std::chrono::milliseconds(200));
  EXPECT_EQ(acc.list().size(), 1u) << "the holder keeps its reservation";
}

// A migration on one host: the receiving domain's device model restores the vGPU while the sending
// domain (same VM) still holds it; it shares the reservation at once instead of waiting, and the
// vGPU counts once against capacity.
TEST(HostAccounting, IncomingDomainSharesThePredecessorsReservation) {
  test::TempDir dir;
  HostAccounting acc(dir.path());
  acc.set_handover_wait(std::chrono::milliseconds(5000));
  const auto p = test_pgpu();
  auto sender = acc.reserve(uuid(1), p, p.types[1], ReservationOwner{5, kVmUuid, "web1"});
  const auto before = acc.usage(p.vendor, p.name);  // type big: at most one instance
  const auto t0 = std::chrono::steady_clock::now();
  auto receiver = acc.reserve(uuid(1), p, p.types[1], ReservationOwner{6, kVmUuid, "web1--incoming", true});
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::milliseconds(2000));
  ASSERT_NE(receiver, nullptr);
  const auto both = acc.usage(p.vendor, p.name);
  EXPECT_EQ(both.instances.at(p.types[1].name), before.instances.at(p.types[1].name));
  EXPECT_EQ(both.used, before.used);
  auto records = acc.list();
  ASSERT_EQ(records.size(), 2u);
  std::set<long> domids;
  for (const auto& r : records) {
    EXPECT_EQ(r.uuid, uuid(1));
    domids.insert(r.owner.domid);
  }
  EXPECT_EQ(domids, (std::set<long>{5, 6}));
  // Another VM still cannot take it, nor can a third domain that is not incoming wait it out.
  EXPECT_THROW(acc.reserve(uuid(1), p, p.types[1],
                           ReservationOwner{7, "99999999-2222-4333-8444-555555555555", "db1", true}),
               UuidInUseError);
  // The sender ends: the receiver keeps the vGPU alone.
  sender.reset();
  records = acc.list();
  ASSERT_EQ(records.size(), 1u);
  EXPECT_EQ(records[0].owner.domid, 6);
  EXPECT_EQ(records[0].uuid, uuid(1));
  // The receiver's next reboot waits for it like any predecessor.
  std::thread teardown([&receiver] {
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    receiver.reset();
  });
  std::unique_ptr<Reservation> next;
  EXPECT_NO_THROW(next = acc.reserve(uuid(1), p, p.types[1], ReservationOwner{8, kVmUuid, "web1"}));
  teardown.join();
  ASSERT_EQ(acc.list().size(), 1u);
  EXPECT_EQ(acc.list()[0].owner.domid, 8);
}

TEST(HostAccounting, IncomingDomainOfAnotherTypeIsRefused) {
  test::TempDir dir;
  HostAccounting acc(dir.path());
  const auto p = test_pgpu();
  ASSERT_GE(p.types.size(), 2u);
  auto sender = acc.reserve(uuid(1), p, p.types[0], ReservationOwner{5, kVmUuid, "web1"});
  try {
    acc.reserve(uuid(1), p, p.types[1], ReservationOwner{6, kVmUuid, "web1", true});
    FAIL() << "a different type was shared";
  } catch (const UuidInUseError& e) {
    EXPECT_NE(std::string(e.what()).find("another type"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace xvgpu::gpu
