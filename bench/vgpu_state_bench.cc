// The vGPU's share of a save's or migration's stop-and-copy (Google Benchmark): the core's
// snapshot of a simgpu vGPU (config space, registers, engine state and its VRAM) written while
// the guest is paused, and read back by the receiving device model before the guest resumes.
// One benchmark per type, so the figure scales with the VRAM the type carries.
#include <benchmark/benchmark.h>

#include <unistd.h>

#include <cerrno>
#include <filesystem>
#include <memory>
#include <sstream>
#include <stdexcept>
#include <string>

#include "gpu/vgpu_manager.h"
#include "support/fake_platform.h"
#include "vendor/simgpu/simgpu_vendor.h"

namespace {

using namespace xvgpu;
using namespace xvgpu::gpu;

constexpr Sbdf kSlot{0, 0, 5, 0};
const char* const kUuid = "be000000-0000-4000-8000-0000000000a1";

struct Rig {
  explicit Rig(const std::string& type_name)
      : type(type_name),
        dir(std::filesystem::temp_directory_path() / ("xvgpu-state-bench-" + std::to_string(::getpid()))) {
    std::filesystem::create_directories(dir);
    const int rc = xvgpu_simgpu_register_builtin();
    if (rc != 0 && rc != -EEXIST) throw std::runtime_error("simgpu: cannot register the built-in vendor");
    m = std::make_unique<VgpuManager>(ManagerOptions{dir});
    m->load_builtin_vendors();
  }
  ~Rig() {
    m.reset();
    std::filesystem::remove_all(dir);
  }
  std::shared_ptr<Vgpu> make(test::FakePlatform& fp) {
    VgpuConfig c;
    c.uuid = kUuid;
    c.type = type;
    c.sbdf = kSlot;
    return m->create_vgpu(c, fp.platform());
  }
  // VRAM full of non-repeating bytes, so nothing about the contents makes the copy cheaper.
  static void fill_vram(test::FakePlatform& fp) {
    for (const auto& region : fp.direct.regions()) {
      auto bytes = region->host();
      for (size_t k = 0; k < bytes.size(); ++k) bytes[k] = static_cast<std::byte>((k * 2654435761u) >> 13);
    }
  }
  std::string type;
  std::filesystem::path dir;
  // Platforms outlive the manager, and so every vGPU on them.
  test::FakePlatform sender{Domid{1}};
  test::FakePlatform receiver{Domid{2}};
  std::unique_ptr<VgpuManager> m;
};

// in_guest_memory: the VRAM is the guest's memory, saved by the hypervisor (Xen's VRAM pool), so the
// state leaves it out; otherwise it is copied into the state (a plugin older than ABI 1.3).
void BM_SaveState(benchmark::State& state, const char* type, bool in_guest_memory) {
  Rig rig(type);
  rig.sender.direct.saved_with_guest = in_guest_memory;
  auto v = rig.make(rig.sender);
  v->start();
  Rig::fill_vram(rig.sender);
  size_t bytes = 0;
  for (auto _ : state) {
    // As xvgpu-dm's save-state does.
    std::string room;
    room.reserve(v->snapshot_size_hint());
    std::ostringstream out(std::move(room));
    v->save(out);
    bytes = out.view().size();
    benchmark::DoNotOptimize(bytes);
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * bytes));
  state.counters["state_bytes"] = static_cast<double>(bytes);
  v->stop();
}

void BM_RestoreState(benchmark::State& state, const char* type, bool in_guest_memory) {
  Rig rig(type);
  rig.sender.direct.saved_with_guest = in_guest_memory;
  rig.receiver.direct.saved_with_guest = in_guest_memory;
  std::string image;
  {
    auto v = rig.make(rig.sender);
    v->start();
    Rig::fill_vram(rig.sender);
    std::ostringstream out;
    v->save(out);
    image = out.str();
    v->stop();
    rig.m->destroy_vgpu(kUuid);
  }
  for (auto _ : state) {
    state.PauseTiming();
    auto v = rig.make(rig.receiver);
    std::istringstream in(image);
    state.ResumeTiming();
    v->restore(in);
    state.PauseTiming();
    v.reset();
    rig.m->destroy_vgpu(kUuid);
    state.ResumeTiming();
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * image.size()));
  state.counters["state_bytes"] = static_cast<double>(image.size());
}

BENCHMARK_CAPTURE(BM_SaveState, simgpu_16_vram_copied, "simgpu-16", false)->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_SaveState, simgpu_64_vram_copied, "simgpu-64", false)->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_SaveState, simgpu_16_vram_in_guest, "simgpu-16", true)->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_SaveState, simgpu_64_vram_in_guest, "simgpu-64", true)->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_RestoreState, simgpu_16_vram_copied, "simgpu-16", false)->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_RestoreState, simgpu_64_vram_copied, "simgpu-64", false)->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_RestoreState, simgpu_16_vram_in_guest, "simgpu-16", true)->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_RestoreState, simgpu_64_vram_in_guest, "simgpu-64", true)->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();
