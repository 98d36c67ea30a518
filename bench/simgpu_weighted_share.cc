// Engine sharing between two vGPUs of one physical simgpu.
//
// Two guests keep their command rings full of equal guest->VRAM copies; the physical engine
// runs one descriptor at a time and the arbiter hands it out by weight. Prints the bytes each
// vGPU moved in a measurement window and their ratio, for weights 1:3, the same pair after a
// run-time change to 3:1, and foreground vs background at equal weight.
//
// Usage: simgpu_weighted_share_bench [seconds per phase (default 2)] [copy KiB (default 256)]
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <thread>

#include "guest_driver.h"
#include "test_host.h"
#include "vendor/simgpu/fair_share.h"
#include "vendor/simgpu/knobs.h"
#include "vendor/simgpu/simgpu_types.h"
#include "vendor/simgpu/simgpu_vendor.h"

using namespace xvgpu::simgpu;
using namespace xvgpu::simgpu::test;

namespace {

constexpr uint32_t kRingSize = 256;

struct Guest {
  TestInstance* inst = nullptr;
  Ring ring;
  uint64_t src = 0;
};

uint64_t engine_bytes(TestHost& host, TestInstance* inst) {
  std::array<uint64_t, kStatCount> v{};
  host.ops(inst).read_stats(inst->vgpu_data, v.data(), kStatCount);
  return v[kStatEngineBytes];
}

void set_knob(TestHost& host, TestInstance* inst, uint32_t knob, int64_t value) {
  xvgpu_knob_value k{knob, 0, value, nullptr};
  xvgpu_error err{};
  if (host.ops(inst).knob_set(inst->vgpu_data, &k, &err) != 0) {
    std::fprintf(stderr, "knob_set: %s\n", err.message);
    std::exit(1);
  }
}

// Keeps the ring topped up until stop: what a busy guest driver does.
void feed(TestHost& host, Guest& g, uint32_t job_bytes, const std::atomic<bool>& stop) {
  uint32_t seq = 0;
  uint64_t dst = 0;
  const uint64_t vram = g.inst->vram.size();
  while (!stop.load(std::memory_order_relaxed)) {
    const uint32_t head = engine_read(host, g.inst, engine::kRegRingHead);
    const uint32_t used = (g.ring.tail + kRingSize - head) % kRingSize;
    const uint32_t free_slots = kRingSize - 1 - used;
    if (free_slots < kRingSize / 4) {
      std::this_thread::sleep_for(std::chrono::microseconds(200));
      continue;
    }
    std::vector<engine::Descriptor> batch;
    for (uint32_t k = 0; k < free_slots; ++k) {
      batch.push_back(copy_to_vram(g.src, dst, job_bytes, ++seq, /*irq=*/false));
      dst = (dst + job_bytes) % (vram - job_bytes);
    }
    submit(host, g.inst, g.ring, batch, /*wait=*/false);
  }
}

struct Phase {
  double a_bytes;
  double b_bytes;
  double seconds;
};

Phase measure(TestHost& host, Guest& a, Guest& b, double seconds) {
  std::this_thread::sleep_for(std::chrono::milliseconds(300));  // settle after a knob change
  const auto t0 = std::chrono::steady_clock::now();
  const uint64_t a0 = engine_bytes(host, a.inst);
  const uint64_t b0 = engine_bytes(host, b.inst);
  std::this_thread::sleep_for(std::chrono::duration<double>(seconds));
  const uint64_t a1 = engine_bytes(host, a.inst);
  const uint64_t b1 = engine_bytes(host, b.inst);
  const double dt = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return Phase{static_cast<double>(a1 - a0), static_cast<double>(b1 - b0), dt};
}

void report(const char* what, const Phase& p, double expected) {
  const double ratio = p.a_bytes > 0 ? p.b_bytes / p.a_bytes : 0;
  std::printf("%-34s A %8.1f MiB/s  B %8.1f MiB/s  total %8.1f MiB/s  B/A = %.3f (expected %.3f)\n", what,
              p.a_bytes / p.seconds / 1048576, p.b_bytes / p.seconds / 1048576,
              (p.a_bytes + p.b_bytes) / p.seconds / 1048576, ratio, expected);
}

}  // namespace

int main(int argc, char** argv) {
  const double seconds = argc > 1 ? std::atof(argv[1]) : 2.0;
  const uint32_t job_bytes = (argc > 2 ? static_cast<uint32_t>(std::atoi(argv[2])) : 256) * 1024;
  if (seconds <= 0 || job_bytes == 0 || job_bytes > (16u << 20)) {
    std::fprintf(stderr, "usage: %s [seconds > 0] [copy KiB 1..16384]\n", argv[0]);
    return 2;
  }
  TestHost host(64u << 20);
  xvgpu_error err{};
  if (host.load(simgpu_vendor(), &err) != 0) {
    std::fprintf(stderr, "load: %s\n", err.message);
    return 1;
  }
  Guest a;
  Guest b;
  a.inst = host.create(1);  // simgpu-64
  b.inst = host.create(1);
  if (a.inst == nullptr || b.inst == nullptr || host.start(a.inst) != 0 || host.start(b.inst) != 0) {
    std::fprintf(stderr, "could not create two simgpu-64 vGPUs\n");
    return 1;
  }
  // Separate rings and source buffers in guest RAM.
  a.ring = setup_ring(host, a.inst, TestHost::kRamBase, kRingSize, 0);
  b.ring = setup_ring(host, b.inst, TestHost::kRamBase + 0x10000, kRingSize, 0);
  a.src = TestHost::kRamBase + (1u << 20);
  b.src = TestHost::kRamBase + (1u << 20) + 16u * 1024 * 1024;
  for (size_t k = 0; k < host.ram().size(); ++k) host.ram()[k] = static_cast<std::byte>(k * 131);

  std::printf(
      "simgpu engine share: two simgpu-64 vGPUs on one physical simgpu, %u KiB guest->VRAM copies, "
      "%.1f s per phase\n",
      job_bytes / 1024, seconds);
  set_knob(host, a.inst, kKnobEngineWeight, 100);
  set_knob(host, b.inst, kKnobEngineWeight, 300);
  std::atomic<bool> stop{false};
  std::thread fa([&] { feed(host, a, job_bytes, stop); });
  std::thread fb([&] { feed(host, b, job_bytes, stop); });

  const Phase p1 = measure(host, a, b, seconds);
  report("weights A:B = 1:3", p1, 3.0);
  set_knob(host, a.inst, kKnobEngineWeight, 300);
  set_knob(host, b.inst, kKnobEngineWeight, 100);
  const Phase p2 = measure(host, a, b, seconds);
  report("weights A:B = 3:1 (set at run time)", p2, 1.0 / 3);
  set_knob(host, a.inst, kKnobEngineWeight, 100);
  set_knob(host, b.inst, kKnobEngineWeight, 100);
  set_knob(host, b.inst, kKnobPriority, 1);
  const Phase p3 = measure(host, a, b, seconds);
  report("A foreground, B background (1:1)", p3, 1.0 / (FairShare::kBackgroundTurnEvery - 1));

  stop = true;
  fa.join();
  fb.join();
  host.drain(a.inst);
  host.drain(b.inst);
  const bool ok = p1.a_bytes > 0 && p1.b_bytes / p1.a_bytes > 2.5 && p1.b_bytes / p1.a_bytes < 3.5;
  std::printf("1:3 share %s\n", ok ? "within 2.5..3.5" : "OUT OF RANGE");
  return ok ? 0 : 1;
}
