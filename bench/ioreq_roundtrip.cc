// Cross-process round trip of one guest MMIO read on xensim: guest (this process) ->
// xensimd -> the Frontend in a child process -> xensimd -> guest.
//
//   ioreq_roundtrip [iterations]            starts its own xensimd on a private socket
//   ioreq_roundtrip --serve <domid>         (internal) the device-model child
//
// The child is stopped with SIGTERM, which also exercises the signalfd teardown path: it
// must exit 0.
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

#include "gpu/io_handler.h"
#include "ioreq/frontend.h"
#include "xensim/guest.h"

extern char** environ;

using namespace xvgpu;

namespace {

constexpr uint64_t kBar = 0xf0000000;

class NullDevice final : public gpu::IoHandler {
 public:
  uint64_t read(const gpu::IoAccess& a) noexcept override { return a.addr; }
  void write(const gpu::IoAccess&, uint64_t) noexcept override {}
};

int serve(uint16_t domid) {
  ioreq::FrontendOptions o;  // SIGTERM/SIGINT handled: run() returns Signal
  o.restrict_whole_process = true;  // a single-domain process, as a deprivileged device model
  ioreq::Frontend fe(Domid{domid}, o);
  fe.platform().claims->claim_range(gpu::IoSpace::Mmio, kBar, kBar + 0xffff);
  NullDevice device;
  const auto why = fe.run(device);
  return why == ioreq::StopReason::Error ? 1 : 0;
}

pid_t spawn(const std::vector<std::string>& args) {
  std::vector<char*> argv;
  for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  pid_t pid = 0;
  if (posix_spawn(&pid, argv[0], nullptr, nullptr, argv.data(), environ) != 0) {
    std::perror("posix_spawn");
    std::exit(2);
  }
  return pid;
}

int wait_exit(pid_t pid) {
  int status = 0;
  ::waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc == 3 && std::string(argv[1]) == "--serve") return serve(static_cast<uint16_t>(std::atoi(argv[2])));
  const uint64_t n = argc > 1 ? std::strtoull(argv[1], nullptr, 10) : 20000;

  const std::string socket = "/tmp/ioreq-roundtrip-" + std::to_string(::getpid()) + ".sock";
  ::setenv("XENSIM_SOCKET", socket.c_str(), 1);
  const pid_t daemon = spawn({XENSIMD_PATH, "--socket", socket});
  std::unique_ptr<xensim::Guest> guest;
  for (int i = 0; i < 200 && !guest; ++i) {
    try {
      guest = std::make_unique<xensim::Guest>(xensim::Guest::connect(socket));
    } catch (const std::exception&) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
  }
  if (!guest) {
    std::fprintf(stderr, "xensimd did not come up at %s\n", socket.c_str());
    ::kill(daemon, SIGTERM);
    return 2;
  }
  xensim::DomainConfig cfg;
  cfg.vcpus = 1;
  const Domid dom = guest->create_domain(cfg);
  const pid_t dm = spawn({"/proc/self/exe", "--serve", std::to_string(dom.value)});
  guest->unpause(dom);
  // Until the child has claimed the BAR, Xen's null handler answers all ones.
  while (guest->mmio_read(dom, VcpuId{0}, kBar + 8, 4) != ((kBar + 8) & 0xffffffff))
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  for (int i = 0; i < 1000; ++i) guest->mmio_read(dom, VcpuId{0}, kBar + 8, 4);
  const auto t0 = std::chrono::steady_clock::now();
  for (uint64_t i = 0; i < n; ++i) guest->mmio_read(dom, VcpuId{0}, kBar + 8, 4);
  const auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now() - t0);
  std::printf(
      "cross-process round trip (guest -> xensimd -> frontend process -> guest): %.1f us over %llu reads\n",
      static_cast<double>(ns.count()) / static_cast<double>(n) / 1000.0, static_cast<unsigned long long>(n));

  ::kill(dm, SIGTERM);
  const int dm_exit = wait_exit(dm);
  std::printf("device model exit status after SIGTERM: %d\n", dm_exit);
  guest->shutdown_daemon();
  guest.reset();
  wait_exit(daemon);
  ::unlink(socket.c_str());
  return dm_exit == 0 ? 0 : 1;
}
