// What one guest ioreq costs the production xvgpu-dm in syscalls, context switches and round-trip
// time, on xensim: its own xensimd, a domain with one vCPU, the real xvgpu-dm binary (on
// xensim's libraries, as shipped) serving one simgpu-16, and this process as the guest reading
// the DISPI ID register in BAR2 (a 2-byte MMIO read, as the real-Xen side-by-side probe does).
//
//   ioreq_wakeup [--reads N] [--seccomp off,log,kill] [--strace] [--keep] [--dm PATH]
//
// --dm runs another xvgpu-dm binary (e.g. a copy of an older build, to compare side by side).
// For each --seccomp mode (default: off,kill) a fresh domain and device model, then:
//  1. N timed reads: mean / median / p99 round trip; voluntary and involuntary context switches
//     of every device-model thread (/proc/<pid>/task/*/status), per ioreq;
//  2. N reads under `perf stat --per-thread -e raw_syscalls:sys_enter -p <pid>` (if perf is
//     installed): syscalls per ioreq of every thread;
//  3. with --strace, N/10 reads under `strace -f -c -p <pid>`: calls per ioreq by syscall name.
// On xensim, xenevtchn_unmask and xenevtchn_notify are request/reply calls to xensimd (sendmsg +
// recvmsg, the thread blocks for the reply); on a Linux dom0 they are one non-blocking write and
// one ioctl on /dev/xen/evtchn. The syscall count carries over, the context switches do not.
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "xensim/guest.h"
#include "xensim/transport.h"

extern char** environ;

using namespace xvgpu;
using namespace std::chrono_literals;
namespace fs = std::filesystem;

namespace {

constexpr uint64_t kBar2 = 0xfebf0000;        // simgpu's register BAR
constexpr uint64_t kDispiId = kBar2 + 0x500;  // DISPI register 0 (ID)
constexpr uint64_t kExpectedId = 0xB0C5;      // what simgpu reports
constexpr const char* kUuid = "0b5e55ed-0000-4000-8000-00000000beef";
const Sbdf kSbdf{0, 0, 5, 0};  // xvgpu-dm's first automatic slot

std::string slurp(const fs::path& p) {
  std::ifstream f(p);
  std::stringstream s;
  s << f.rdbuf();
  return s.str();
}

std::optional<std::string> find_tool(const char* name) {
  for (const char* dir : {"/usr/bin/", "/usr/local/bin/", "/usr/sbin/"}) {
    const std::string p = std::string(dir) + name;
    if (::access(p.c_str(), X_OK) == 0) return p;
  }
  return std::nullopt;
}

struct ThreadSwitches {
  std::string comm;
  uint64_t voluntary = 0;
  uint64_t involuntary = 0;
  uint64_t cpu_ns = 0;  // time on a CPU (schedstat)
  uint64_t utime = 0;   // clock ticks in user mode
  uint64_t stime = 0;   // ... in the kernel
};

// Every thread of `pid`: name, context switches and CPU time so far.
std::map<pid_t, ThreadSwitches> thread_switches(pid_t pid) {
  std::map<pid_t, ThreadSwitches> out;
  std::error_code ec;
  for (auto it = fs::directory_iterator("/proc/" + std::to_string(pid) + "/task", ec);
       !ec && it != fs::directory_iterator(); it.increment(ec)) {
    ThreadSwitches t;
    std::istringstream st(slurp(it->path() / "status"));
    for (std::string line; std::getline(st, line);) {
      if (line.starts_with("Name:")) t.comm = line.substr(line.find_first_not_of(" \t", 5));
      if (line.starts_with("voluntary_ctxt_switches:")) t.voluntary = std::stoull(line.substr(24));
      if (line.starts_with("nonvoluntary_ctxt_switches:")) t.involuntary = std::stoull(line.substr(27));
    }
    std::istringstream(slurp(it->path() / "schedstat")) >> t.cpu_ns;
    const std::string stat = slurp(it->path() / "stat");
    std::istringstream fields(stat.substr(stat.rfind(')') + 2));  // after "pid (comm) "
    std::string skip;
    for (int f = 3; f < 14; ++f) fields >> skip;  // state .. cmajflt
    fields >> t.utime >> t.stime;
    out[static_cast<pid_t>(std::stol(it->path().filename().string()))] = t;
  }
  return out;
}

// A program this bench runs (xensimd, xvgpu-dm, perf, strace): stdout to /dev/null, stderr to
// a file, extra environment entries; SIGKILLed and reaped if still running at destruction.
class Child {
 public:
  Child(const std::vector<std::string>& argv, const std::string& err_path,
        const std::vector<std::string>& env = {}) {
    std::vector<std::string> envs = env;
    for (char** e = environ; *e != nullptr; ++e) {
      const std::string kv = *e;
      const auto name = kv.substr(0, kv.find('=') + 1);
      if (std::none_of(env.begin(), env.end(), [&](const std::string& x) { return x.starts_with(name); })) {
        envs.push_back(kv);
      }
    }
    std::vector<char*> a;
    std::vector<char*> e;
    for (const auto& x : argv) a.push_back(const_cast<char*>(x.c_str()));
    for (const auto& x : envs) e.push_back(const_cast<char*>(x.c_str()));
    a.push_back(nullptr);
    e.push_back(nullptr);
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
    posix_spawn_file_actions_addopen(&fa, 2, err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    const int rc = posix_spawn(&pid_, a[0], &fa, nullptr, a.data(), e.data());
    posix_spawn_file_actions_destroy(&fa);
    if (rc != 0) {
      std::fprintf(stderr, "cannot run %s: %s\n", argv[0].c_str(), std::strerror(rc));
      std::exit(2);
    }
  }
  ~Child() {
    if (!status_) {
      ::kill(pid_, SIGKILL);
      wait_for(10s);
    }
  }
  Child(const Child&) = delete;
  Child& operator=(const Child&) = delete;

  [[nodiscard]] pid_t pid() const { return pid_; }
  void signal(int sig) const {
    if (!status_) ::kill(pid_, sig);
  }
  bool running() { return !wait_for(0ms).has_value(); }
  // The exit status as a shell shows it (128 + signal), nullopt if it still runs after `limit`.
  std::optional<int> wait_for(std::chrono::milliseconds limit) {
    const auto end = std::chrono::steady_clock::now() + limit;
    while (!status_) {
      int st = 0;
      if (::waitpid(pid_, &st, WNOHANG) == pid_) {
        status_ = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
      } else if (std::chrono::steady_clock::now() >= end) {
        break;
      } else {
        std::this_thread::sleep_for(2ms);
      }
    }
    return status_;
  }

 private:
  pid_t pid_ = -1;
  std::optional<int> status_;
};

class World {
 public:
  World() {
    char tmpl[] = "/tmp/ioreq-wakeup.XXXXXX";
    dir_ = ::mkdtemp(tmpl);
    socket_ = (dir_ / "xensim.sock").string();
    daemon_.emplace(std::vector<std::string>{XENSIMD_PATH, "--socket", socket_},
                    (dir_ / "xensimd.stderr").string());
    for (int i = 0; i < 500 && !xensim::connect_socket(socket_); ++i) std::this_thread::sleep_for(10ms);
    guest_.emplace(xensim::Guest::connect(socket_));
    fs::create_directories(dir_ / "state");
  }
  ~World() {
    dm_.reset();
    try {
      guest_->shutdown_daemon();
    } catch (...) {
    }
    guest_.reset();
    daemon_->wait_for(10s);
    if (!keep_) {
      std::error_code ec;
      fs::remove_all(dir_, ec);
    }
  }
  World(const World&) = delete;
  World& operator=(const World&) = delete;

  void keep(bool k) { keep_ = k; }
  void dm_path(std::string p) { dm_path_ = std::move(p); }
  [[nodiscard]] const fs::path& dir() const { return dir_; }
  xensim::Guest& guest() { return *guest_; }
  [[nodiscard]] Domid dom() const { return dom_; }
  [[nodiscard]] pid_t dm_pid() const { return dm_->pid(); }

  // A new domain and a device model for it with --seccomp `mode`; false if it did not come up.
  bool start(const std::string& mode) {
    dm_.reset();
    dom_ = guest_->create_domain({.vcpus = 1, .ram_mib = 64, .start_paused = true});
    const fs::path log = dir_ / ("dm-" + mode + ".log");
    const std::string pidfile = (dir_ / ("dm-" + mode + ".pid")).string();
    const std::vector<std::string> env{"LD_LIBRARY_PATH=" XENSIM_LIBDIR, "XENSIM_SOCKET=" + socket_,
                                       "XVGPU_STATE_DIR=" + (dir_ / "state").string()};
    dm_.emplace(
        std::vector<std::string>{dm_path_, "--domain", std::to_string(dom_.value), "--vgpu",
                                 std::string("uuid=") + kUuid + ",type=simgpu-16", "--seccomp", mode,
                                 "--control-socket", (dir_ / ("dm-" + mode + ".sock")).string(), "--pidfile",
                                 pidfile, "--log-file", log.string(), "--xenstore-node", "none"},
        (dir_ / ("dm-" + mode + ".stderr")).string(), env);
    for (int i = 0; i < 6000; ++i) {  // 60 s: slow starts (sanitizer builds, loaded hosts)
      if (fs::exists(pidfile) && slurp(log).find("ready: control socket") != std::string::npos) break;
      if (!dm_->running()) break;
      std::this_thread::sleep_for(10ms);
    }
    if (!dm_->running() || slurp(log).find("ready: control socket") == std::string::npos) {
      std::fprintf(stderr, "xvgpu-dm --seccomp %s did not come up; log:\n%s\n", mode.c_str(),
                   slurp(log).c_str());
      return false;
    }
    guest_->unpause(dom_);
    // Firmware's part: BAR2 placed, memory decode on.
    guest_->pci_cfg_write(dom_, VcpuId{0}, kSbdf, 0x18, 4, static_cast<uint32_t>(kBar2));
    guest_->pci_cfg_write(dom_, VcpuId{0}, kSbdf, 0x04, 2, 0x0006);
    const uint64_t id = read_id();
    if (id != kExpectedId) {
      std::fprintf(stderr, "DISPI ID read 0x%llx, expected 0x%llx\n", static_cast<unsigned long long>(id),
                   static_cast<unsigned long long>(kExpectedId));
      return false;
    }
    return true;
  }
  // The device model's exit status after SIGTERM.
  int stop() {
    dm_->signal(SIGTERM);
    const auto st = dm_->wait_for(5s);
    dm_.reset();
    guest_->destroy_domain(dom_);
    return st.value_or(-1);
  }

  uint64_t read_id() { return guest_->mmio_read(dom_, VcpuId{0}, kDispiId, 2); }

 private:
  fs::path dir_;
  std::string socket_;
  std::optional<Child> daemon_;
  std::optional<xensim::Guest> guest_;
  Domid dom_{};
  std::optional<Child> dm_;
  bool keep_ = false;
  std::string dm_path_ = XVGPU_DM_PATH;
};

// N reads; per-read latencies in ns (sorted); exits on a wrong answer.
std::vector<double> timed_reads(World& w, uint64_t n) {
  std::vector<double> ns;
  ns.reserve(n);
  for (uint64_t i = 0; i < n; ++i) {
    const auto t0 = std::chrono::steady_clock::now();
    const uint64_t v = w.read_id();
    const auto t1 = std::chrono::steady_clock::now();
    if (v != kExpectedId) {
      std::fprintf(stderr, "read %llu answered 0x%llx\n", static_cast<unsigned long long>(i),
                   static_cast<unsigned long long>(v));
      std::exit(1);
    }
    ns.push_back(static_cast<double>(std::chrono::duration_cast<std::chrono::nanoseconds>(t1 - t0).count()));
  }
  std::sort(ns.begin(), ns.end());
  return ns;
}

// Runs `reads` guest reads while `tool` is attached to the device model (it must stop on
// SIGINT and write its report to `out`); the report's text.
std::string reads_under(World& w, std::vector<std::string> tool, const fs::path& out, uint64_t reads) {
  Child t(tool, out.string() + ".stderr");
  std::this_thread::sleep_for(500ms);  // attached (both tools attach at start-up)
  for (uint64_t i = 0; i < reads; ++i) w.read_id();
  t.signal(SIGINT);
  t.wait_for(10s);
  return slurp(out);
}

void measure(World& w, const std::string& mode, uint64_t reads, bool with_strace) {
  const pid_t pid = w.dm_pid();
  for (int i = 0; i < 1000; ++i) w.read_id();  // warm: map cache, branch predictors, pages

  // 1. Latency and context switches.
  const auto before = thread_switches(pid);
  const auto t0 = std::chrono::steady_clock::now();
  const auto ns = timed_reads(w, reads);
  const auto total = std::chrono::steady_clock::now() - t0;
  const auto after = thread_switches(pid);
  const double n = static_cast<double>(reads);
  double mean = 0;
  for (double x : ns) mean += x;
  mean /= n;
  std::printf("\n== xvgpu-dm --seccomp %s (pid %d), %llu reads of DISPI ID (2-byte MMIO, BAR2)\n",
              mode.c_str(), pid, static_cast<unsigned long long>(reads));
  std::printf("round trip: mean %.1f us, median %.1f us, p99 %.1f us; %.0f reads/s\n", mean / 1000,
              ns[ns.size() / 2] / 1000, ns[ns.size() * 99 / 100] / 1000,
              n / std::chrono::duration<double>(total).count());
  std::printf("per ioreq, by thread: context switches (voluntary / involuntary), CPU time (user share):\n");
  for (const auto& [tid, a] : after) {
    const auto b = before.find(tid);
    const ThreadSwitches z{};
    const ThreadSwitches& o = b == before.end() ? z : b->second;
    const uint64_t ticks = (a.utime - o.utime) + (a.stime - o.stime);
    std::printf(
        "  %-16s tid %-7d %6.3f / %6.3f   cpu %6.2f us (user %3.0f%%)\n", a.comm.c_str(), tid,
        static_cast<double>(a.voluntary - o.voluntary) / n,
        static_cast<double>(a.involuntary - o.involuntary) / n,
        static_cast<double>(a.cpu_ns - o.cpu_ns) / n / 1000.0,
        ticks == 0 ? 0.0 : 100.0 * static_cast<double>(a.utime - o.utime) / static_cast<double>(ticks));
  }

  // 2. Syscalls per thread.
  if (const auto perf = find_tool("perf")) {
    const fs::path out = w.dir() / ("perf-" + mode + ".csv");
    const std::string text =
        reads_under(w,
                    {*perf, "stat", "--per-thread", "-x", ",", "-e", "raw_syscalls:sys_enter", "-p",
                     std::to_string(pid), "-o", out.string()},
                    out, reads);
    std::printf("syscalls per ioreq, by thread (perf stat --per-thread -e raw_syscalls:sys_enter -p %d):\n",
                pid);
    std::istringstream in(text);
    for (std::string line; std::getline(in, line);) {
      if (line.empty() || line[0] == '#') continue;
      const auto c1 = line.find(',');
      const auto c2 = line.find(',', c1 + 1);
      if (c1 == std::string::npos || c2 == std::string::npos) continue;
      const std::string count = line.substr(c1 + 1, c2 - c1 - 1);
      const double per = count.find_first_not_of("0123456789") == std::string::npos && !count.empty()
                             ? std::stod(count) / n
                             : 0.0;
      std::printf("  %-24s %6.3f\n", line.substr(0, c1).c_str(), per);
    }
  } else {
    std::printf("syscalls per ioreq: perf not installed (apt-get install linux-perf)\n");
  }

  // 3. By syscall name.
  if (with_strace) {
    if (const auto strace = find_tool("strace")) {
      const uint64_t sreads = std::max<uint64_t>(reads / 10, 100);
      const fs::path out = w.dir() / ("strace-" + mode + ".txt");
      const std::string text =
          reads_under(w, {*strace, "-f", "-c", "-o", out.string(), "-p", std::to_string(pid)}, out, sreads);
      std::printf("calls per ioreq by syscall (strace -f -c -p %d, %llu reads, all threads):\n", pid,
                  static_cast<unsigned long long>(sreads));
      std::istringstream in(text);
      for (std::string line; std::getline(in, line);) {
        // "% time seconds usecs/call calls [errors] syscall"
        std::istringstream f(line);
        std::vector<std::string> col;
        for (std::string c; f >> c;) col.push_back(c);
        if (col.size() < 5 || col[0] == "%" || col[0].starts_with("-") || col.back() == "total") continue;
        const uint64_t calls = std::stoull(col[3]);
        const bool has_errors = col.size() == 6;
        std::printf("  %-16s %7.3f%s\n", col.back().c_str(),
                    static_cast<double>(calls) / static_cast<double>(sreads),
                    has_errors ? ("  (errors " + col[4] + ")").c_str() : "");
      }
    } else {
      std::printf("strace not installed (apt-get install strace)\n");
    }
  }
}

}  // namespace

int main(int argc, char** argv) {
  uint64_t reads = 20000;
  std::vector<std::string> modes;
  bool with_strace = false;
  bool keep = false;
  std::string dm = XVGPU_DM_PATH;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--reads" && i + 1 < argc) {
      reads = std::strtoull(argv[++i], nullptr, 10);
    } else if (a == "--seccomp" && i + 1 < argc) {
      std::istringstream s(argv[++i]);
      for (std::string m; std::getline(s, m, ',');) modes.push_back(m);
    } else if (a == "--strace") {
      with_strace = true;
    } else if (a == "--keep") {
      keep = true;
    } else if (a == "--dm" && i + 1 < argc) {
      dm = argv[++i];
    } else {
      std::fprintf(stderr, "usage: %s [--reads N] [--seccomp off,log,kill] [--strace] [--keep] [--dm PATH]\n",
                   argv[0]);
      return 2;
    }
  }
  if (reads < 100) reads = 100;
  if (modes.empty()) modes = {"off", "kill"};
  World w;
  w.keep(keep);
  w.dm_path(dm);
  std::printf("device model: %s\n", dm.c_str());
  int rc = 0;
  for (const auto& m : modes) {
    if (!w.start(m)) {
      rc = 1;
      continue;
    }
    measure(w, m, reads, with_strace);
    const int st = w.stop();
    std::printf("device model exit status after SIGTERM: %d\n", st);
    if (st != 0) rc = 1;
  }
  if (keep) std::printf("\nlogs kept in %s\n", w.dir().c_str());
  return rc;
}
