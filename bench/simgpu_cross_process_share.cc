// Engine sharing between two PROCESSES, as between the xvgpu-dm processes of two guests whose
// vGPUs sit on the same physical simgpu.
//
// Two child processes each load simgpu (behind the test host), create one simgpu-64 vGPU on
// physical GPU simgpu0 and keep its command ring full of equal guest->VRAM copies. The only
// thing they share is the host-wide engine arbiter table in $XVGPU_STATE_DIR/simgpu. The parent
// measures the bytes each vGPU's engine moved per window and prints the ratios for:
//   1. weights A:B = 1:3 (set at creation),
//   2. weights A:B = 3:1 (each process changes its knob at run time),
//   3. equal weights, A foreground and B background (set at run time).
//
// Usage: simgpu_cross_process_share_bench [seconds per phase (default 2)] [copy KiB (default 256)]
// The table lives in a fresh temporary state directory unless XVGPU_STATE_DIR is set.
#include <signal.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <string>
#include <thread>

#include "guest_driver.h"
#include "test_host.h"
#include "vendor/simgpu/engine_arbiter.h"
#include "vendor/simgpu/knobs.h"
#include "vendor/simgpu/physical_gpu.h"
#include "vendor/simgpu/simgpu_types.h"
#include "vendor/simgpu/simgpu_vendor.h"

using namespace xvgpu::simgpu;
using namespace xvgpu::simgpu::test;
using namespace std::chrono_literals;

namespace {

constexpr uint32_t kRingSize = 256;

struct Knobs {
  int64_t weight;
  int64_t priority;  // 0 foreground, 1 background
};

// Shared between the parent and the two guests' processes.
struct Board {
  std::atomic<int> ready{0};
  std::atomic<int> failed{0};
  std::atomic<int> phase{0};
  std::atomic<int> acks{0};
  std::atomic<int> stop{0};
  std::atomic<uint64_t> bytes[2];  // engine_bytes statistic of each vGPU
  Knobs knobs[3][2];               // per phase, per process
};

uint64_t engine_bytes(TestHost& host, TestInstance* inst) {
  std::array<uint64_t, kStatCount> v{};
  host.ops(inst).read_stats(inst->vgpu_data, v.data(), kStatCount);
  return v[kStatEngineBytes];
}

bool set_knob(TestHost& host, TestInstance* inst, uint32_t knob, int64_t value) {
  xvgpu_knob_value k{knob, 0, value, nullptr};
  xvgpu_error err{};
  if (host.ops(inst).knob_set(inst->vgpu_data, &k, &err) != 0) {
    (void)std::fprintf(stderr, "knob_set: %s\n", err.message);
    return false;
  }
  return true;
}

// One guest's process: a vGPU whose ring the "driver" keeps topped up until told to stop.
int guest_process(Board& board, int me, uint32_t job_bytes) {
  TestHost host(64u << 20);
  xvgpu_error err{};
  if (host.load(simgpu_vendor(), &err) != 0) {
    (void)std::fprintf(stderr, "guest %d: load: %s\n", me, err.message);
    return 1;
  }
  const Knobs k0 = board.knobs[0][me];
  int rc = 0;
  TestInstance* inst = host.create(1,
                                   {xvgpu_knob_value{kKnobEngineWeight, 0, k0.weight, nullptr},
                                    xvgpu_knob_value{kKnobPriority, 0, k0.priority, nullptr}},
                                   &rc, &err);
  if (inst == nullptr || host.start(inst) != 0) {
    (void)std::fprintf(stderr, "guest %d: create: %s\n", me, err.message);
    return 1;
  }
  Ring ring = setup_ring(host, inst, TestHost::kRamBase, kRingSize, 0);
  const uint64_t src = TestHost::kRamBase + (1u << 20);
  for (size_t i = 0; i < host.ram().size(); ++i) host.ram()[i] = static_cast<std::byte>(i * 131);
  board.ready.fetch_add(1);

  uint32_t seq = 0;
  uint64_t dst = 0;
  int applied = 0;
  const uint64_t vram = inst->vram.size();
  while (board.stop.load() == 0) {
    board.bytes[me].store(engine_bytes(host, inst));
    const int phase = board.phase.load();
    if (phase > applied) {
      const Knobs k = board.knobs[phase][me];
      if (!set_knob(host, inst, kKnobEngineWeight, k.weight) ||
          !set_knob(host, inst, kKnobPriority, k.priority))
        return 1;
      applied = phase;
      board.acks.fetch_add(1);
    }
    const uint32_t head = engine_read(host, inst, engine::kRegRingHead);
    const uint32_t used = (ring.tail + kRingSize - head) % kRingSize;
    const uint32_t free_slots = kRingSize - 1 - used;
    if (free_slots < kRingSize / 4) {
      std::this_thread::sleep_for(200us);
      continue;
    }
    std::vector<engine::Descriptor> batch;
    for (uint32_t n = 0; n < free_slots; ++n) {
      batch.push_back(copy_to_vram(src, dst, job_bytes, ++seq, /*irq=*/false));
      dst = (dst + job_bytes) % (vram - job_bytes);
    }
    submit(host, inst, ring, batch, /*wait=*/false);
  }
  engine_write(host, inst, engine::kRegControl, 0);
  host.drain(inst);
  return 0;
}

struct Window {
  double a;
  double b;
  double seconds;
};

Window measure(Board& board, double seconds) {
  std::this_thread::sleep_for(300ms);  // settle after a knob change
  const auto t0 = std::chrono::steady_clock::now();
  const uint64_t a0 = board.bytes[0].load();
  const uint64_t b0 = board.bytes[1].load();
  std::this_thread::sleep_for(std::chrono::duration<double>(seconds));
  const uint64_t a1 = board.bytes[0].load();
  const uint64_t b1 = board.bytes[1].load();
  const double dt = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return Window{static_cast<double>(a1 - a0), static_cast<double>(b1 - b0), dt};
}

void report(const char* what, const Window& w, double expected) {
  const double ratio = w.a > 0 ? w.b / w.a : 0;
  std::printf("%-40s A %8.1f MiB/s  B %8.1f MiB/s  total %8.1f MiB/s  B/A = %.3f (expected %.3f)\n", what,
              w.a / w.seconds / 1048576, w.b / w.seconds / 1048576, (w.a + w.b) / w.seconds / 1048576, ratio,
              expected);
}

bool wait_until(const std::function<bool()>& cond) {
  const auto end = std::chrono::steady_clock::now() + 30s;
  while (!cond()) {
    if (std::chrono::steady_clock::now() > end) return false;
    std::this_thread::sleep_for(5ms);
  }
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  const double seconds = argc > 1 ? std::atof(argv[1]) : 2.0;
  const uint32_t job_bytes = (argc > 2 ? static_cast<uint32_t>(std::atoi(argv[2])) : 256) * 1024;
  if (seconds <= 0 || job_bytes == 0 || job_bytes > (16u << 20)) {
    (void)std::fprintf(stderr, "usage: %s [seconds > 0] [copy KiB 1..16384]\n", argv[0]);
    return 2;
  }
  std::filesystem::path temp_state;
  if (const char* env = std::getenv("XVGPU_STATE_DIR"); env == nullptr || *env == '\0') {
    std::string tmpl = (std::filesystem::temp_directory_path() / "simgpu-bench-XXXXXX").string();
    if (::mkdtemp(tmpl.data()) == nullptr) {
      std::perror("mkdtemp");
      return 1;
    }
    temp_state = tmpl;
    ::setenv("XVGPU_STATE_DIR", tmpl.c_str(), 1);
  }

  void* mem = ::mmap(nullptr, sizeof(Board), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  if (mem == MAP_FAILED) {
    std::perror("mmap");
    return 1;
  }
  auto* board = new (mem) Board;  // NOLINT(cppcoreguidelines-owning-memory): lives in the mapping
  board->knobs[0][0] = {100, 0};
  board->knobs[0][1] = {300, 0};
  board->knobs[1][0] = {300, 0};
  board->knobs[1][1] = {100, 0};
  board->knobs[2][0] = {100, 0};
  board->knobs[2][1] = {100, 1};

  pid_t pids[2] = {};
  for (int me = 0; me < 2; ++me) {
    pids[me] = ::fork();
    if (pids[me] == 0) ::_exit(guest_process(*board, me, job_bytes));
  }
  const auto fail = [&](const char* what) {
    (void)std::fprintf(stderr, "%s\n", what);
    for (const pid_t p : pids) ::kill(p, SIGKILL);
    return 1;
  };
  if (!wait_until([&] { return board->ready.load() == 2; })) return fail("the guests did not start");
  const auto table = default_arbiter_dir() / "simgpu0.engine";
  std::printf(
      "simgpu engine share across processes: pids A %d, B %d, one simgpu-64 vGPU each on simgpu0, "
      "%u KiB guest->VRAM copies, %.1f s per phase, table %s\n",
      pids[0], pids[1], job_bytes / 1024, seconds, table.c_str());

  const Window w1 = measure(*board, seconds);
  report("weights A:B = 1:3", w1, 3.0);
  board->phase = 1;
  if (!wait_until([&] { return board->acks.load() == 2; })) return fail("knob change not applied");
  const Window w2 = measure(*board, seconds);
  report("weights A:B = 3:1 (changed at run time)", w2, 1.0 / 3);
  board->phase = 2;
  if (!wait_until([&] { return board->acks.load() == 4; })) return fail("knob change not applied");
  const Window w3 = measure(*board, seconds);
  report("A foreground, B background (1:1)", w3, 1.0 / (FairShare::kBackgroundTurnEvery - 1));

  {
    auto observer = EngineArbiter::open_shared(table);
    for (const auto& s : observer->snapshot().slots) {
      std::printf("  table slot %u: pid %d weight %u %s, %lu grants\n", s.slot, s.pid, s.weight,
                  s.priority == EnginePriority::Foreground ? "foreground" : "background",
                  static_cast<unsigned long>(s.grants));
    }
  }
  board->stop = 1;
  int bad = 0;
  for (const pid_t p : pids) {
    int status = 0;
    ::waitpid(p, &status, 0);
    bad += (WIFEXITED(status) && WEXITSTATUS(status) == 0) ? 0 : 1;
  }
  if (!temp_state.empty()) std::filesystem::remove_all(temp_state);
  const double r1 = w1.a > 0 ? w1.b / w1.a : 0;
  const double r2 = w2.b > 0 ? w2.a / w2.b : 0;
  const bool ok = bad == 0 && r1 > 2.5 && r1 < 3.5 && r2 > 2.5 && r2 < 3.5;
  std::printf("1:3 and 3:1 shares %s\n", ok ? "within 2.5..3.5" : "OUT OF RANGE");
  return ok ? 0 : 1;
}
