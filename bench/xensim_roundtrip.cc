// Round-trip latency and throughput of one MMIO access through xensim, answered by the echo
// ioreq server (Xen C API only):
//   InProcess:   Host + echo server thread + guest in one process (xensim_inproc).
//   CrossProcess: xensimd + echo server process (linked against Debian's libraries, run on
//                 ${XENSIM_LIBDIR}) + this process as the guest over the socket.
// ->Threads(N): N vCPUs issue accesses concurrently (aggregate throughput = items_per_second).
#include <benchmark/benchmark.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <memory>
#include <thread>

#include "echo_server.h"
#include "xensim/guest.h"
#include "xensim/host.h"
#include "xensim/xen_headers.h"

namespace {

constexpr uint32_t kVcpus = 4;

struct InProcess {
  xensim::Host host;
  xensim::Guest guest{host};
  xvgpu::Domid dom;
  std::atomic<bool> stop{false}, ready{false};
  echo::Stats stats;
  std::string error;
  std::thread dm;
  InProcess() {
    dom = guest.create_domain({.vcpus = kVcpus, .ram_mib = 16, .start_paused = false});
    echo::Options o;
    o.domid = dom.value;
    o.restrict_all = false;
    dm = std::thread([this, o] { echo::run(o, &stop, &ready, &stats, &error); });
    while (!ready && error.empty()) std::this_thread::yield();
  }
  ~InProcess() {
    stop = true;
    dm.join();
  }
};

struct CrossProcess {
  std::string socket = "/tmp/xensim-bench-" + std::to_string(::getpid()) + ".sock";
  pid_t daemon = -1, echo_pid = -1;
  std::optional<xensim::Guest> guest;
  xvgpu::Domid dom;
  CrossProcess() {
    daemon = spawn({XENSIMD_PATH, "--socket", socket}, {});
    for (int i = 0; i < 500 && !xensim::connect_socket(socket); ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    guest.emplace(xensim::Guest::connect(socket));
    dom = guest->create_domain({.vcpus = kVcpus, .ram_mib = 16, .start_paused = false});
    echo_pid = spawn({ECHO_PATH, std::to_string(dom.value)},
                     {"LD_LIBRARY_PATH=" XENSIM_LIBDIR, "XENSIM_SOCKET=" + socket});
    // Ready when the device is claimed: reads stop being answered with all ones.
    for (int i = 0; i < 500; ++i) {
      if (guest->access(dom, xvgpu::VcpuId{0}, probe()).status == xensim::AccessStatus::ok) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
  }
  ~CrossProcess() {
    ::kill(echo_pid, SIGTERM);
    ::waitpid(echo_pid, nullptr, 0);
    guest->shutdown_daemon();
    ::waitpid(daemon, nullptr, 0);
  }
  static xensim::Access probe() {
    xensim::Access a;
    a.space = xensim::Space::mmio;
    a.dir = IOREQ_READ;
    a.addr = echo::kMmioFirst;
    a.size = 4;
    return a;
  }
  static pid_t spawn(std::vector<std::string> argv, std::vector<std::string> env) {
    const pid_t pid = ::fork();
    if (pid == 0) {
      for (auto& e : env) ::putenv(e.data());
      std::vector<char*> args;
      for (auto& a : argv) args.push_back(a.data());
      args.push_back(nullptr);
      ::execv(args[0], args.data());
      ::_exit(127);
    }
    return pid;
  }
};

InProcess& in_process() {
  static InProcess p;
  return p;
}
CrossProcess& cross_process() {
  static CrossProcess p;
  return p;
}

template <typename Env>
void run(benchmark::State& state, Env& env, xensim::Guest& g) {
  const auto vcpu = xvgpu::VcpuId{static_cast<uint32_t>(state.thread_index()) % kVcpus};
  const uint64_t addr = echo::kMmioFirst + 0x1000 * vcpu.value;
  uint64_t sum = 0;
  for (auto _ : state) sum += g.mmio_read(env.dom, vcpu, addr, 4);
  benchmark::DoNotOptimize(sum);
  state.SetItemsProcessed(state.iterations());
}

void BM_MmioRoundTrip_InProcess(benchmark::State& state) {
  run(state, in_process(), in_process().guest);
}
void BM_MmioRoundTrip_CrossProcess(benchmark::State& state) {
  run(state, cross_process(), *cross_process().guest);
}

BENCHMARK(BM_MmioRoundTrip_InProcess)->UseRealTime()->Threads(1)->Threads(4);
BENCHMARK(BM_MmioRoundTrip_CrossProcess)->UseRealTime()->Threads(1)->Threads(4);

}  // namespace

BENCHMARK_MAIN();
