// The echo ioreq server as its own process, linked against Debian's Xen libraries: run it
// with LD_LIBRARY_PATH=${XENSIM_LIBDIR} to talk to xensimd (proves the soname substitution).
// Usage: xensim_echo_server DOMID [legacy] [bufioreq] [norestrict] [low]
// Prints "ready" once serving; on SIGTERM prints its counters and exits 0.
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>

#include "echo_server.h"

extern "C" {
#include <xendevicemodel.h>
}

namespace {
std::atomic<bool> g_stop{false};
void on_term(int /*sig*/) {
  g_stop = true;
}
}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s DOMID [legacy] [bufioreq] [norestrict] [low]\n", argv[0]);
    return 2;
  }
  echo::Options opt;
  opt.domid = static_cast<uint16_t>(std::strtoul(argv[1], nullptr, 0));
  for (int i = 2; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "legacy") opt.legacy = true;
    if (a == "bufioreq") opt.bufioreq = HVM_IOREQSRV_BUFIOREQ_ATOMIC;
    if (a == "norestrict") opt.restrict_all = false;
    if (a == "low") opt.claim_low_port = true;
  }
  std::signal(SIGTERM, on_term);
  std::signal(SIGINT, on_term);
  std::atomic<bool> ready{false};
  echo::Stats stats;
  std::string error;
  std::thread announcer([&] {
    // Not `error`: run() writes it on this thread's watch (a data race ThreadSanitizer found);
    // a failed set-up returns, and g_stop below ends the wait.
    while (!ready && !g_stop) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    if (ready) {
      std::printf("ready\n");
      std::fflush(stdout);
    }
  });
  const bool ok = echo::run(opt, &g_stop, &ready, &stats, &error);
  g_stop = true;
  announcer.join();
  if (!ok) {
    std::fprintf(stderr, "echo server: %s\n", error.c_str());
    std::printf("error %s\n", error.c_str());
    return 1;
  }
  std::printf("ioreqs %llu invalidates %llu timeoffsets %llu buffered %llu errors %llu\n",
              static_cast<unsigned long long>(stats.ioreqs.load()),
              static_cast<unsigned long long>(stats.invalidates.load()),
              static_cast<unsigned long long>(stats.timeoffsets.load()),
              static_cast<unsigned long long>(stats.buffered.load()),
              static_cast<unsigned long long>(stats.errors.load()));
  return 0;
}
