#include "vendor/simgpu/fair_share.h"

#include <gtest/gtest.h>

#include <array>
#include <initializer_list>
#include <map>

namespace xvgpu::simgpu {
namespace {

struct Member {
  FairShare::Id id;
  uint32_t weight;
  EnginePriority priority = EnginePriority::Foreground;
};

// The policy over a private table, as EngineArbiter::open_private() uses it; the members are
// added, then each made runnable.
struct Table {
  explicit Table(std::initializer_list<Member> members = {}) {
    for (const Member& m : members) fs.add(m.id, m.weight, m.priority);
    for (const Member& m : members) fs.set_runnable(m.id, true);
  }
  FairShareClock clock{};
  std::array<FairShareEntry, 8> entries{};
  FairShare fs{clock, entries};
};

std::map<FairShare::Id, int> run(FairShare& fs, int turns, uint64_t cost = 1000) {
  std::map<FairShare::Id, int> n;
  for (int t = 0; t < turns; ++t) {
    const auto id = fs.pick();
    if (!id) break;
    ++n[*id];
    fs.charge(*id, cost);
  }
  return n;
}

TEST(FairShare, WeightsDivideTheEngine) {
  Table table({{1, 1}, {2, 3}});
  auto n = run(table.fs, 400);
  EXPECT_NEAR(n[1], 100, 1);
  EXPECT_NEAR(n[2], 300, 1);
}

TEST(FairShare, CostCountsNotTurns) {
  Table table({{1, 1}, {2, 1}});
  FairShare& fs = table.fs;
  uint64_t work[3] = {};
  for (int t = 0; t < 1000; ++t) {
    const auto id = *fs.pick();
    const uint64_t cost = id == 1 ? 4000 : 1000;  // vGPU 1 submits 4x larger jobs
    work[id] += cost;
    fs.charge(id, cost);
  }
  EXPECT_NEAR(static_cast<double>(work[1]) / static_cast<double>(work[2]), 1.0, 0.01);
}

TEST(FairShare, WeightChangesTakeEffect) {
  Table table({{1, 1}, {2, 1}});
  FairShare& fs = table.fs;
  run(fs, 100);
  fs.set_weight(1, 4);
  auto n = run(fs, 500);
  EXPECT_NEAR(n[1], 400, 2);
  EXPECT_NEAR(n[2], 100, 2);
}

TEST(FairShare, IdleTimeEarnsNoCredit) {
  Table table;
  FairShare& fs = table.fs;
  fs.add(1, 1, EnginePriority::Foreground);
  fs.add(2, 1, EnginePriority::Foreground);
  fs.set_runnable(1, true);
  run(fs, 1000);  // only 1 runs for a long time
  fs.set_runnable(2, true);
  auto n = run(fs, 100);
  EXPECT_NEAR(n[1], 50, 1) << "2 must not monopolise the engine to catch up";
  EXPECT_NEAR(n[2], 50, 1);
}

TEST(FairShare, ForegroundFirstBackgroundNotStarved) {
  Table table({{1, 1, EnginePriority::Background}, {2, 1}});
  FairShare& fs = table.fs;
  auto n = run(fs, 160);
  EXPECT_EQ(n[1], 160 / static_cast<int>(FairShare::kBackgroundTurnEvery));
  EXPECT_EQ(n[2], 160 - n[1]);
  fs.set_runnable(2, false);
  n = run(fs, 10);
  EXPECT_EQ(n[1], 10) << "background runs freely when foreground is idle";
  fs.set_priority(1, EnginePriority::Foreground);
  fs.set_runnable(2, true);
  n = run(fs, 100);
  EXPECT_NEAR(n[1], 50, 1);
}

TEST(FairShare, ChangingClassKeepsTheRelativePlace) {
  Table table;
  FairShare& fs = table.fs;
  fs.add(1, 1, EnginePriority::Background);
  fs.set_runnable(1, true);
  run(fs, 1000);  // background alone for a long time: its clock runs far ahead
  fs.add(2, 1, EnginePriority::Foreground);
  fs.set_runnable(2, true);
  fs.set_priority(1, EnginePriority::Foreground);
  auto n = run(fs, 100);
  EXPECT_NEAR(n[1], 50, 1) << "time spent alone in the other class must not stall it";
  EXPECT_NEAR(n[2], 50, 1);
}

TEST(FairShare, NothingRunnable) {
  Table table;
  FairShare& fs = table.fs;
  EXPECT_FALSE(fs.pick());
  fs.add(7, 10, EnginePriority::Foreground);
  EXPECT_FALSE(fs.pick());
  fs.set_runnable(7, true);
  EXPECT_EQ(fs.pick(), 7u);
  fs.remove(7);
  EXPECT_FALSE(fs.pick());
  EXPECT_FALSE(fs.any_runnable());
  fs.set_runnable(7, true);
  EXPECT_FALSE(fs.pick()) << "a removed entry stays out";
  fs.add(99, 1, EnginePriority::Foreground);
  EXPECT_FALSE(fs.pick()) << "ids beyond the table are ignored";
}

}  // namespace
}  // namespace xvgpu::simgpu
