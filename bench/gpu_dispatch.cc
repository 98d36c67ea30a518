// Cost of the vGPU core on the guest's request path (Google Benchmark): a config read, a
// trapped MMIO read reaching the example vendor (dlopen'ed), a misaligned read split in two,
// an MSI raised by the vendor, and a host-wide reservation + release (flock'ed files).
#include <benchmark/benchmark.h>

#include <filesystem>

#include "gpu/vgpu_manager.h"
#include "support/fake_platform.h"

namespace {

using namespace xvgpu;
using namespace xvgpu::gpu;

constexpr Sbdf kSlot{0, 0, 5, 0};
constexpr uint64_t kRegs = 0xfeb00000;

struct Rig {
  Rig() : dir(std::filesystem::temp_directory_path() / ("xvgpu-bench-" + std::to_string(::getpid()))) {
    std::filesystem::create_directories(dir);
    m = std::make_unique<VgpuManager>(ManagerOptions{dir});
    m->load_plugin(MINIMAL_PLUGIN_PATH);
    VgpuConfig c;
    c.uuid = "be000000-0000-4000-8000-000000000001";
    c.type = "minimal-1";
    c.sbdf = kSlot;
    v = m->create_vgpu(c, fp.platform());
    v->start();
    auto& bus = m->bus(fp.domid);
    bus.write(IoAccess{AddressSpace::PciConfig, 0x10, kSlot, 4, VcpuId{0}}, kRegs);
    bus.write(IoAccess{AddressSpace::PciConfig, 0x18, kSlot, 4, VcpuId{0}}, 0xe0000000);
    bus.write(IoAccess{AddressSpace::PciConfig, 0x04, kSlot, 2, VcpuId{0}}, 0x6);
    bus.write(IoAccess{AddressSpace::PciConfig, 0x44, kSlot, 4, VcpuId{0}}, 0xfee00000);
    bus.write(IoAccess{AddressSpace::PciConfig, 0x42, kSlot, 2, VcpuId{0}}, 1);
  }
  ~Rig() {
    v.reset();
    m.reset();
    std::filesystem::remove_all(dir);
  }
  std::filesystem::path dir;
  test::FakePlatform fp;
  std::unique_ptr<VgpuManager> m;
  std::shared_ptr<Vgpu> v;
};

void BM_ConfigRead(benchmark::State& state) {
  Rig rig;
  auto& bus = rig.m->bus(rig.fp.domid);
  const IoAccess a{AddressSpace::PciConfig, 0x00, kSlot, 4, VcpuId{0}};
  for (auto _ : state) benchmark::DoNotOptimize(bus.read(a));
}
BENCHMARK(BM_ConfigRead);

void BM_TrappedMmioRead(benchmark::State& state) {
  Rig rig;
  auto& bus = rig.m->bus(rig.fp.domid);
  const IoAccess a{AddressSpace::Mmio, kRegs + 0x4, {}, 4, VcpuId{0}};
  for (auto _ : state) benchmark::DoNotOptimize(bus.read(a));
}
BENCHMARK(BM_TrappedMmioRead);

void BM_MisalignedMmioReadSplit(benchmark::State& state) {
  Rig rig;
  auto& bus = rig.m->bus(rig.fp.domid);
  const IoAccess a{AddressSpace::Mmio, kRegs + 0x4, {}, 8, VcpuId{0}};  // 4 + 4
  for (auto _ : state) benchmark::DoNotOptimize(bus.read(a));
}
BENCHMARK(BM_MisalignedMmioReadSplit);

void BM_RaiseMsi(benchmark::State& state) {
  Rig rig;
  for (auto _ : state) {
    benchmark::DoNotOptimize(rig.v->svc_raise_msi(0));
    if (rig.fp.interrupts.msi_count() > 100000) {
      state.PauseTiming();
      rig.fp.interrupts.clear();
      state.ResumeTiming();
    }
  }
}
BENCHMARK(BM_RaiseMsi);

// Reserve + release with `range(0)` other live reservations on the host.
void BM_ReserveRelease(benchmark::State& state) {
  const auto dir = std::filesystem::temp_directory_path() / ("xvgpu-bench-acc-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  {
    HostAccounting acc(dir);
    PgpuInfo p;
    p.vendor = "bench";
    p.name = "gpu0";
    TypeInfo t;
    t.name = "t";
    p.types = {t};
    std::vector<std::unique_ptr<Reservation>> others;
    for (int i = 0; i < state.range(0); ++i) {
      others.push_back(acc.reserve(fmt::format("00000000-0000-4000-8000-{:012d}", i + 1000), p, p.types[0]));
    }
    for (auto _ : state) {
      auto r = acc.reserve("00000000-0000-4000-8000-000000000001", p, p.types[0]);
      r.reset();
    }
  }
  std::filesystem::remove_all(dir);
}
BENCHMARK(BM_ReserveRelease)->Arg(0)->Arg(16)->Arg(64);

}  // namespace

BENCHMARK_MAIN();
