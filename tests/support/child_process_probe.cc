// The program child_process_tests runs: does one thing its arguments name and reports on
// stdout what the test checks.
//   exit N            exits with N
//   raise N           kills itself with signal N
//   sleep MS          sleeps, then exits 0
//   ignore-term       ignores SIGTERM, prints "ready", sleeps 30 s
//   env NAME...       prints each NAME=value, or "NAME unset"
//   fds               prints its open fds, one a line
//   say OUT ERR       writes OUT + "\n" to stdout, then ERR + "\n" to stderr
//   sigpipe           prints whether SIGPIPE is ignored ("SIGPIPE ignored" / "SIGPIPE default")
#include <dirent.h>
#include <signal.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

int main(int argc, char** argv) {
  if (argc < 2) return 2;
  const std::string what = argv[1];
  const auto arg = [&](int i) { return i < argc ? std::atoi(argv[i]) : 0; };
  if (what == "exit") return arg(2);
  if (what == "raise") {
    (void)::signal(arg(2), SIG_DFL);
    (void)::raise(arg(2));
    return 3;
  }
  if (what == "sleep") {
    ::usleep(static_cast<useconds_t>(arg(2)) * 1000);
    return 0;
  }
  if (what == "ignore-term") {
    (void)::signal(SIGTERM, SIG_IGN);
    std::printf("ready\n");
    (void)std::fflush(stdout);
    ::sleep(30);
    return 0;
  }
  if (what == "env") {
    for (int i = 2; i < argc; ++i) {
      const char* v = std::getenv(argv[i]);
      if (v != nullptr) {
        std::printf("%s=%s\n", argv[i], v);
      } else {
        std::printf("%s unset\n", argv[i]);
      }
    }
    return 0;
  }
  if (what == "fds") {
    DIR* d = ::opendir("/proc/self/fd");
    if (d == nullptr) return 4;
    const int own = ::dirfd(d);
    while (const dirent* e = ::readdir(d)) {
      if (e->d_name[0] == '.' || std::atoi(e->d_name) == own) continue;
      std::printf("%s\n", e->d_name);
    }
    ::closedir(d);
    return 0;
  }
  if (what == "say" && argc == 4) {
    std::printf("%s\n", argv[2]);
    (void)std::fflush(stdout);
    (void)std::fprintf(stderr, "%s\n", argv[3]);
    return 0;
  }
  if (what == "sigpipe") {
    struct sigaction sa {};
    ::sigaction(SIGPIPE, nullptr, &sa);
    std::printf("SIGPIPE %s\n", sa.sa_handler == SIG_IGN ? "ignored" : "default");
    return 0;
  }
  return 2;
}
