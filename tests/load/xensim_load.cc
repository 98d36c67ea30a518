// xvgpu-xensim-load: the load test of issue 8 on xensim, as production runs it: one xensimd,
// one unmodified xvgpu-dm process per domain (on the drop-in Xen libraries), each domain with
// several simgpu vGPUs, and every vCPU of every domain driving its vGPU at once: register
// writes read back, read-only registers and PCI config space checked against what the guest
// programmed, and engine jobs (guest RAM -> VRAM -> guest RAM copies) whose data is
// checksummed and whose completion MSIs are counted exactly.
//
// Pass/fail (exit 0/1), never on timing:
//   * none lost: every access answered (status ok), and per domain xensim counted exactly as
//     many ioreqs as the guest issued; no hung vCPU, no crashed domain, every device model
//     alive until told to stop and exiting 0 on SIGTERM;
//   * none wrong: each read equals the value the guest model expects, each job's output
//     checksum equals its input's, FENCE/JOBS_COMPLETED/ERROR_COUNT agree, and each vGPU
//     raised exactly one MSI (with its own vector) per job;
//   * no starvation: every vCPU completes its quota, and while the first domain completes
//     its quota every domain has been served (requests > 0 in that window).
// Figures (printed): wall time, requests/s, per-domain throughput min/median/max and spread,
// per-domain requests served within the window until the first domain completed.
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>
#include <CLI/CLI.hpp>

#include <algorithm>
#include <atomic>
#include <barrier>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "common/types.h"
#include "support/child_process.h"
#include "vendor/simgpu/engine_interface.h"
#include "xensim/guest.h"
#include "xensim/transport.h"

namespace {

using xvgpu::Domid;
using xvgpu::Sbdf;
using xvgpu::VcpuId;
namespace eng = xvgpu::simgpu::engine;
using Clock = std::chrono::steady_clock;

constexpr uint8_t kRead = 1;  // IOREQ_READ
constexpr uint8_t kWrite = 0;

// Guest physical layout per vGPU i ("firmware" places the BARs; RAM is below 32 MiB).
constexpr uint64_t kVramGpa = 0xC0000000;    // + i * 256 MiB
constexpr uint64_t kRegsGpa = 0xF0000000;    // + i * 1 MiB
constexpr uint64_t kEngineGpa = 0xF0080000;  // + i * 1 MiB
constexpr uint64_t kBarStride = 0x100000;
constexpr uint64_t kVramStride = 0x10000000;
// Driver memory in guest RAM per vGPU: ring, fence write-back, job source and destination.
constexpr uint64_t kDriverGpa = 0x100000;  // + i * 64 KiB
constexpr uint64_t kDriverStride = 0x10000;
constexpr uint64_t kRingOff = 0x0;
constexpr uint64_t kFenceOff = 0x1000;
constexpr uint64_t kSrcOff = 0x2000;
constexpr uint64_t kDstOff = 0x4000;
constexpr uint32_t kRingSize = 64;
constexpr uint32_t kMaxPayload = 0x2000;
constexpr uint64_t kMsiAddr = 0xFEE00000;
constexpr uint32_t kMsiVector0 = 0x41;  // vGPU i signals vector 0x41 + i
constexpr uint32_t kPciId = 0x11111234;
constexpr uint16_t kDispiId5 = 0xB0C5;
// DISPI registers that are plain storage while the display is disabled (it stays disabled).
constexpr uint16_t kScratchDispi[] = {1, 2, 3, 5, 6, 7, 8, 9};

struct Options {
  unsigned domains = 32;
  unsigned vgpus = 2;
  uint64_t requests = 100000;
  unsigned job_percent = 8;  // share of operations that are engine jobs
  std::string xensimd = XENSIMD_PATH;
  std::string dm = XVGPU_DM_PATH;
  std::string libdir = XENSIM_LIBDIR;
  std::string type = "simgpu-16";
  bool keep = false;
};

using xvgpu::test::ChildOptions;
using xvgpu::test::ChildProcess;
using xvgpu::test::Output;

// xensimd and each xvgpu-dm: stdout and stderr to one log file, and SIGKILLed should the load
// program crash or be killed (never outliving it).
std::unique_ptr<ChildProcess> start_process(const std::vector<std::string>& argv,
                                            const std::vector<std::string>& env, const std::string& log) {
  ChildOptions o;
  o.env = env;
  o.out = Output::file(log);
  o.err = Output::to_stdout();
  o.kill_with_parent = true;
  return std::make_unique<ChildProcess>(argv, o);
}

// SIGTERM, then its exit status (128 + signal), or -1 when it had to be SIGKILLed after `limit`.
int terminate(ChildProcess& p, std::chrono::milliseconds limit) {
  const auto st = p.terminate(limit);
  return st ? st->shell_code() : -1;
}

std::string read_file(const std::string& path) {
  std::string s;
  if (FILE* f = std::fopen(path.c_str(), "r")) {
    char buf[4096];
    size_t n;
    while ((n = std::fread(buf, 1, sizeof buf, f)) > 0) s.append(buf, n);
    std::fclose(f);
  }
  return s;
}

uint64_t fnv1a(const std::byte* p, size_t n) {
  uint64_t h = 0xcbf29ce484222325ull;
  for (size_t k = 0; k < n; ++k) {
    h ^= static_cast<uint8_t>(p[k]);
    h *= 0x100000001b3ull;
  }
  return h;
}

// Failure log shared by every thread: counts all, prints the first few.
class Failures {
 public:
  void add(const std::string& what) {
    std::lock_guard lk(mu_);
    if (++count_ <= 20) std::fprintf(stderr, "FAIL: %s\n", what.c_str());
  }
  uint64_t count() {
    std::lock_guard lk(mu_);
    return count_;
  }

 private:
  std::mutex mu_;
  uint64_t count_ = 0;
};

struct Domain {
  Domid id{0};
  std::unique_ptr<ChildProcess> dm;
  std::unique_ptr<xensim::RamMapping> ram;  // the driver memory, mapped once
  std::mutex cf8;                           // the guest OS serialises CF8/CFC pairs
  uint64_t ioreqs_before = 0;
  std::atomic<uint64_t> served{0};  // requests answered so far (all vCPUs)
  std::atomic<unsigned> vcpus_left{0};
  std::atomic<bool> dead{false};  // its device model died or the domain is gone: stop driving it
  double finished_s = 0;          // when its last vCPU completed its quota
  std::vector<uint64_t> jobs;     // per vGPU, doorbells rung (one MSI each)
  std::vector<uint32_t> bar0_programmed;
  uint64_t requests = 0;
};

class Load {
 public:
  explicit Load(Options o) : o_(std::move(o)) {}

  int run() {
    char tmpl[] = "/tmp/xvgpu-load.XXXXXX";
    if (::mkdtemp(tmpl) == nullptr) {
      std::perror("mkdtemp");
      return 1;
    }
    dir_ = tmpl;
    const int rc = run_in_dir();
    if (rc == 0 && !o_.keep) {
      std::filesystem::remove_all(dir_);
    } else {
      std::printf("logs kept in %s\n", dir_.c_str());
    }
    return rc;
  }

 private:
  Sbdf sbdf(unsigned i) const { return Sbdf{0, 0, static_cast<uint8_t>(5 + i), 0}; }
  static std::string uuid(unsigned dom, unsigned i) {
    char b[40];
    std::snprintf(b, sizeof b, "0000%04x-0000-4000-8000-%012x", dom, i);
    return b;
  }
  uint64_t driver(unsigned i) const { return kDriverGpa + i * kDriverStride; }
  std::byte* ram(Domain& d, uint64_t gpa) const { return d.ram->bytes().data() + gpa; }

  int run_in_dir() {
    socket_ = dir_ + "/xensim.sock";
    // A host of its own: the host-wide vGPU accounting and the engine arbiters live in this
    // state directory (not /run/xvgpu), and there are enough physical simgpus (8 engine
    // contexts each) for every vGPU, as a real host would need.
    const unsigned pgpus = (o_.domains * o_.vgpus + 7) / 8;
    std::string simgpus;
    for (unsigned p = 0; p < pgpus; ++p)
      simgpus += (p == 0 ? "" : ",") + ("simgpu" + std::to_string(p)) + ":1024:8";
    std::filesystem::create_directories(dir_ + "/state");
    // In an ASan build, LeakSanitizer's exit-time check stops the world with ptrace and a
    // non-thread clone, which xvgpu-dm's seccomp filter forbids (exit by SIGSYS instead of 0):
    // leak checking of the device model is left to the in-process tests.
    const char* asan = std::getenv("ASAN_OPTIONS");
    const std::vector<std::string> env{
        "LD_LIBRARY_PATH=" + o_.libdir, "XENSIM_SOCKET=" + socket_, "XVGPU_STATE_DIR=" + dir_ + "/state",
        "XVGPU_SIMGPU=" + simgpus,
        std::string("ASAN_OPTIONS=") + (asan != nullptr ? std::string(asan) + ":" : "") + "detect_leaks=0"};
    daemon_ = start_process({o_.xensimd, "--socket", socket_, "--hang-timeout-ms", "30000"}, env,
                            dir_ + "/xensimd.log");
    for (int i = 0; i < 1000 && !xensim::connect_socket(socket_); ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    guest_.emplace(xensim::Guest::connect(socket_));
    auto& g = *guest_;

    const auto t_setup = Clock::now();
    doms_.resize(o_.domains);
    for (unsigned k = 0; k < o_.domains; ++k) {
      doms_[k] = std::make_unique<Domain>();
      Domain& d = *doms_[k];
      d.id = g.create_domain({.vcpus = o_.vgpus, .ram_mib = 32, .start_paused = true});
      std::vector<std::string> argv{o_.dm,
                                    "--domain",
                                    std::to_string(d.id.value),
                                    "--control-socket",
                                    dir_ + "/dm-" + std::to_string(d.id.value) + ".sock",
                                    "--pidfile",
                                    pidfile(d),
                                    "--log-level",
                                    "warn"};
      for (unsigned i = 0; i < o_.vgpus; ++i) {
        argv.push_back("--vgpu");
        argv.push_back("uuid=" + uuid(d.id.value, i) + ",type=" + o_.type + ",bdf=" + sbdf(i).to_string());
      }
      d.dm = start_process(argv, env, dmlog(d));
    }
    // Readiness: the pidfile is written once every vGPU is up.
    for (auto& dp : doms_) {
      Domain& d = *dp;
      const auto end = Clock::now() + std::chrono::seconds(120);
      while (!std::filesystem::exists(pidfile(d))) {
        if (!d.dm->running() || Clock::now() > end) {
          std::fprintf(stderr, "FAIL: xvgpu-dm for domain %u did not become ready:\n%s\n", d.id.value,
                       read_file(dmlog(d)).c_str());
          return 1;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
      }
    }
    std::printf("%u domains x %u vGPUs (%s) on %u physical simgpus, one xvgpu-dm each, ready in %.2f s\n",
                o_.domains, o_.vgpus, o_.type.c_str(), pgpus, secs_since(t_setup));
    for (auto& dp : doms_) {
      Domain& d = *dp;
      g.unpause(d.id);
      d.ram = g.map_ram(d.id, xvgpu::Gfn{kDriverGpa >> 12}, o_.vgpus * kDriverStride >> 12);
      d.jobs.assign(o_.vgpus, 0);
      d.bar0_programmed.assign(o_.vgpus, 0);
      for (unsigned i = 0; i < o_.vgpus; ++i) firmware(d, i);
      d.ioreqs_before = g.status(d.id).ioreqs;
    }
    if (failures_.count() != 0) return 1;
    std::printf("guest set-up (enumeration, BARs, MSI, engine rings) done at %.2f s\n", secs_since(t_setup));

    drive();
    verify();
    shutdown();
    const uint64_t f = failures_.count();
    std::printf("%s: %llu failure(s)\n", f == 0 ? "PASS" : "FAIL", static_cast<unsigned long long>(f));
    return f == 0 ? 0 : 1;
  }

  std::string pidfile(const Domain& d) const { return dir_ + "/dm-" + std::to_string(d.id.value) + ".pid"; }
  std::string dmlog(const Domain& d) const { return dir_ + "/dm-" + std::to_string(d.id.value) + ".log"; }
  static double secs_since(Clock::time_point t) {
    return std::chrono::duration<double>(Clock::now() - t).count();
  }

  // One access on a vCPU; checks that the device model answered it. Returns the data read.
  uint64_t io(Domain& d, unsigned v, xensim::Space space, uint8_t dir, uint64_t addr, uint32_t size,
              uint64_t data, uint64_t* ioreqs) {
    xensim::Access a;
    a.space = space;
    a.dir = dir;
    a.addr = addr;
    a.size = size;
    a.data = data;
    xensim::AccessResult r;
    try {
      r = guest_->access(d.id, VcpuId{v}, a);
    } catch (const std::exception& e) {  // ESRCH once the domain is gone
      d.dead = true;
      failures_.add("dom" + std::to_string(d.id.value) + " vcpu" + std::to_string(v) + " access 0x" +
                    hex(addr) + ": " + e.what());
      return ~uint64_t{0};
    }
    // The CF8 write is latched by Xen and otherwise unclaimed (the DM does not claim 0xcf8).
    const bool cf8_latch = space == xensim::Space::pio && addr == 0xcf8;
    if (r.status == xensim::AccessStatus::destroyed || r.status == xensim::AccessStatus::crashed)
      d.dead = true;
    if (r.status != xensim::AccessStatus::ok && !(cf8_latch && r.status == xensim::AccessStatus::unclaimed)) {
      failures_.add("dom" + std::to_string(d.id.value) + " vcpu" + std::to_string(v) + " access 0x" +
                    hex(addr) + ": status " + std::to_string(static_cast<unsigned>(r.status)));
    }
    if (ioreqs != nullptr) *ioreqs += r.ioreqs;
    return r.data;
  }
  uint32_t cfg_read(Domain& d, unsigned v, unsigned i, uint16_t reg, uint32_t size, uint64_t* ioreqs) {
    std::lock_guard lk(d.cf8);
    io(d, v, xensim::Space::pio, kWrite, 0xcf8, 4, cf8(i, reg), ioreqs);
    return static_cast<uint32_t>(io(d, v, xensim::Space::pio, kRead, 0xcfc + (reg & 3u), size, 0, ioreqs));
  }
  void cfg_write(Domain& d, unsigned v, unsigned i, uint16_t reg, uint32_t size, uint32_t value) {
    std::lock_guard lk(d.cf8);
    io(d, v, xensim::Space::pio, kWrite, 0xcf8, 4, cf8(i, reg), nullptr);
    io(d, v, xensim::Space::pio, kWrite, 0xcfc + (reg & 3u), size, value, nullptr);
  }
  uint32_t cf8(unsigned i, uint16_t reg) const {
    return 0x80000000u | (static_cast<uint32_t>(sbdf(i).bdf()) << 8) | (reg & 0xfcu);
  }
  static std::string hex(uint64_t v) {
    char b[24];
    std::snprintf(b, sizeof b, "%llx", static_cast<unsigned long long>(v));
    return b;
  }
  void expect_eq(Domain& d, unsigned v, const char* what, uint64_t got, uint64_t want) {
    if (got != want) {
      failures_.add("dom" + std::to_string(d.id.value) + " vcpu" + std::to_string(v) + " " + what +
                    ": got 0x" + hex(got) + ", want 0x" + hex(want));
    }
  }

  // What firmware and the driver's probe do, on vCPU 0: place the BARs, enable decoding and
  // bus mastering, one MSI vector per vGPU, the engine ring with fence write-back.
  void firmware(Domain& d, unsigned i) {
    expect_eq(d, 0, "PCI ID", cfg_read(d, 0, i, 0, 4, nullptr), kPciId);
    const struct {
      uint16_t reg;
      uint64_t gpa;
    } bars[] = {{0x10, kVramGpa + i * kVramStride},
                {0x18, kRegsGpa + i * kBarStride},
                {0x20, kEngineGpa + i * kBarStride}};
    for (const auto& b : bars) {
      cfg_write(d, 0, i, b.reg, 4, 0xffffffff);
      const uint32_t mask = cfg_read(d, 0, i, b.reg, 4, nullptr);
      if ((mask & 0xfffffff0u) == 0) failures_.add("BAR " + std::to_string(b.reg) + " not implemented");
      cfg_write(d, 0, i, b.reg, 4, static_cast<uint32_t>(b.gpa));  // below 4 GiB: the high half stays 0
    }
    d.bar0_programmed[i] = cfg_read(d, 0, i, 0x10, 4, nullptr);
    expect_eq(d, 0, "BAR0 address", d.bar0_programmed[i] & 0xfffffff0u,
              static_cast<uint32_t>(kVramGpa + i * kVramStride));
    cfg_write(d, 0, i, 0x04, 2, 0x0006);  // memory decode + bus master
    uint8_t cap = static_cast<uint8_t>(cfg_read(d, 0, i, 0x34, 1, nullptr));
    uint8_t msi = 0;
    for (int guard = 0; cap != 0 && guard < 48; ++guard) {
      if (cfg_read(d, 0, i, cap, 1, nullptr) == 0x05) msi = cap;
      cap = static_cast<uint8_t>(cfg_read(d, 0, i, cap + 1u, 1, nullptr));
    }
    if (msi == 0) {
      failures_.add("no MSI capability");
      return;
    }
    const uint32_t ctl = cfg_read(d, 0, i, msi + 2u, 2, nullptr);
    const bool is64 = (ctl & 0x80) != 0;
    cfg_write(d, 0, i, msi + 4u, 4, static_cast<uint32_t>(kMsiAddr));
    if (is64) cfg_write(d, 0, i, msi + 8u, 4, 0);
    cfg_write(d, 0, i, msi + (is64 ? 0xcu : 0x8u), 2, kMsiVector0 + i);
    cfg_write(d, 0, i, msi + 2u, 2, (ctl & ~0x70u) | 1u);

    std::memset(ram(d, driver(i) - kDriverGpa), 0, kDriverStride);
    const uint64_t e = kEngineGpa + i * kBarStride;
    expect_eq(d, 0, "engine ID", io(d, 0, xensim::Space::mmio, kRead, e + eng::kRegId, 4, 0, nullptr),
              eng::kEngineId);
    auto ew = [&](uint32_t reg, uint64_t v) {
      io(d, 0, xensim::Space::mmio, kWrite, e + reg, 4, v, nullptr);
    };
    ew(eng::kRegControl, eng::kControlReset);
    ew(eng::kRegRingBaseLo, static_cast<uint32_t>(driver(i) + kRingOff));
    ew(eng::kRegRingBaseHi, 0);
    ew(eng::kRegRingSize, kRingSize);
    ew(eng::kRegFenceAddrLo, static_cast<uint32_t>(driver(i) + kFenceOff));
    ew(eng::kRegFenceAddrHi, 0);
    ew(eng::kRegIrqMask, eng::kIrqCompletion | eng::kIrqError);
    ew(eng::kRegControl, eng::kControlEnable);
  }

  // Every vCPU v of every domain drives vGPU v until its quota of requests is answered.
  void drive() {
    const unsigned threads = o_.domains * o_.vgpus;
    std::vector<uint64_t> quota(threads, o_.requests / threads);
    for (uint64_t k = 0; k < o_.requests % threads; ++k) ++quota[k];
    for (auto& d : doms_) d->vcpus_left = o_.vgpus;
    std::barrier start(static_cast<std::ptrdiff_t>(threads) + 1);
    std::atomic<bool> first_done{false};
    std::vector<std::thread> ts;
    ts.reserve(threads);
    for (unsigned k = 0; k < threads; ++k) {
      ts.emplace_back([&, k] {
        Domain& d = *doms_[k / o_.vgpus];
        const unsigned v = k % o_.vgpus;
        start.arrive_and_wait();
        vcpu(d, v, quota[k], k);
        if (d.vcpus_left.fetch_sub(1) == 1) {
          d.finished_s = secs_since(t0_);
          if (!first_done.exchange(true)) {
            // The fairness window: what every domain got while the first one did all its work.
            std::lock_guard lk(window_mu_);
            window_.clear();
            for (auto& o : doms_) window_.push_back(o->served.load());
            window_s_ = d.finished_s;
          }
        }
      });
    }
    t0_ = Clock::now();
    start.arrive_and_wait();
    t0_ = Clock::now();
    // Watchdog: a device model that dies leaves its vCPUs blocked for ever (as on Xen). Fail
    // it loudly and destroy its domain, which releases them, instead of hanging the test.
    for (;;) {
      bool running = false;
      for (auto& dp : doms_) {
        Domain& d = *dp;
        if (d.vcpus_left.load() != 0) running = true;
        if (!d.dead && d.vcpus_left.load() != 0 && !d.dm->running()) {
          failures_.add("xvgpu-dm of dom" + std::to_string(d.id.value) + " died during the load:\n" +
                        read_file(dmlog(d)));
          d.dead = true;
          guest_->destroy_domain(d.id);
        }
      }
      if (!running) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    for (auto& t : ts) t.join();
    wall_s_ = secs_since(t0_);
  }

  void vcpu(Domain& d, unsigned v, uint64_t quota, unsigned seed) {
    std::mt19937_64 rng(0x5eed0000u + seed);
    const unsigned i = v;  // vCPU v runs the driver of vGPU v
    const unsigned other = (i + 1) % o_.vgpus;
    const uint64_t regs = kRegsGpa + i * kBarStride;
    const uint64_t e = kEngineGpa + i * kBarStride;
    std::map<uint16_t, uint16_t> dispi;  // what this driver wrote to the scratch registers
    uint32_t seq = 0;                    // last descriptor sequence number (FENCE once done)
    uint32_t tail = 0;
    uint64_t done = 0;
    auto* fence = reinterpret_cast<uint32_t*>(ram(d, driver(i) + kFenceOff - kDriverGpa));
    while (done < quota && !d.dead) {
      uint64_t n = 0;
      const unsigned kind = static_cast<unsigned>(rng() % 100);
      const bool pair_fits = quota - done >= 2;
      if (kind < o_.job_percent) {
        // An engine job: payload -> VRAM -> back to guest RAM, one MSI at the end.
        const uint32_t len = 4 * (1 + static_cast<uint32_t>(rng() % (kMaxPayload / 4)));
        std::byte* src = ram(d, driver(i) + kSrcOff - kDriverGpa);
        std::byte* dst = ram(d, driver(i) + kDstOff - kDriverGpa);
        for (uint32_t k = 0; k < len; k += 8) {
          const uint64_t r = rng();
          std::memcpy(src + k, &r, std::min<uint32_t>(8, len - k));
        }
        std::memset(dst, 0, kMaxPayload);
        const uint64_t vram = (rng() % 1024) * kMaxPayload;
        eng::Descriptor c{};
        c.opcode = eng::kOpCopyToVram;
        c.seqno = ++seq;
        c.src = driver(i) + kSrcOff;
        c.dst = vram;
        c.width = len;
        c.height = 1;
        eng::Descriptor b = c;
        b.opcode = eng::kOpCopyFromVram;
        b.flags = eng::kFlagIrq;
        b.seqno = ++seq;
        b.src = vram;
        b.dst = driver(i) + kDstOff;
        for (const auto& desc : {c, b}) {
          std::memcpy(ram(d, driver(i) + kRingOff - kDriverGpa + uint64_t{tail} * eng::kDescriptorSize),
                      &desc, sizeof desc);
          tail = (tail + 1) % kRingSize;
        }
        io(d, v, xensim::Space::mmio, kWrite, e + eng::kRegDoorbell, 4, tail, &n);
        ++d.jobs[i];
        const auto end = Clock::now() + std::chrono::seconds(30);
        while (std::atomic_ref<uint32_t>(*fence).load(std::memory_order_acquire) != seq) {
          if (Clock::now() > end || d.dead) {
            expect_eq(d, v, "fence (job lost: no completion)", *fence, seq);
            break;
          }
          std::this_thread::sleep_for(std::chrono::microseconds(50));
        }
        expect_eq(d, v, "job output checksum", fnv1a(dst, len), fnv1a(src, len));
        ++jobs_total_;
      } else if (kind < 55 && pair_fits) {
        // A register write read back.
        const uint16_t idx = kScratchDispi[rng() % std::size(kScratchDispi)];
        const auto val = static_cast<uint16_t>(rng());
        io(d, v, xensim::Space::mmio, kWrite, regs + 0x500 + idx * 2u, 2, val, &n);
        expect_eq(d, v, "DISPI write read back",
                  io(d, v, xensim::Space::mmio, kRead, regs + 0x500 + idx * 2u, 2, 0, &n), val);
        dispi[idx] = val;
      } else if (kind < 70) {
        // A scratch register read against the model (catches a stale or another vCPU's answer).
        const uint16_t idx = kScratchDispi[rng() % std::size(kScratchDispi)];
        const auto it = dispi.find(idx);
        expect_eq(d, v, "DISPI scratch register",
                  io(d, v, xensim::Space::mmio, kRead, regs + 0x500 + idx * 2u, 2, 0, &n),
                  it == dispi.end() ? 0 : it->second);
      } else if (kind < 80) {
        // Engine state this driver knows exactly.
        if (rng() % 2 == 0) {
          expect_eq(d, v, "FENCE", io(d, v, xensim::Space::mmio, kRead, e + eng::kRegFence, 4, 0, &n), seq);
        } else {
          expect_eq(d, v, "JOBS_COMPLETED",
                    io(d, v, xensim::Space::mmio, kRead, e + eng::kRegJobsCompleted, 4, 0, &n), seq);
        }
      } else if (kind < 88) {
        // Read-only identification of this and the other vGPU (cross traffic on one DM).
        expect_eq(d, v, "DISPI ID", io(d, v, xensim::Space::mmio, kRead, regs + 0x500, 2, 0, &n), kDispiId5);
        if (quota - done - n >= 1) {
          expect_eq(
              d, v, "other vGPU engine ID",
              io(d, v, xensim::Space::mmio, kRead, kEngineGpa + other * kBarStride + eng::kRegId, 4, 0, &n),
              eng::kEngineId);
        }
      } else {
        // PCI config space through CF8/CFC: IDs and the BAR the firmware programmed.
        const unsigned which = rng() % 2 == 0 ? i : other;
        if (rng() % 2 == 0) {
          expect_eq(d, v, "PCI ID", cfg_read(d, v, which, 0, 4, &n), kPciId);
        } else {
          expect_eq(d, v, "BAR0", cfg_read(d, v, which, 0x10, 4, &n), d.bar0_programmed[which]);
        }
      }
      done += n;
      d.served.fetch_add(n, std::memory_order_relaxed);
    }
    if (done != quota) {
      failures_.add("dom" + std::to_string(d.id.value) + " vcpu" + std::to_string(v) + " completed " +
                    std::to_string(done) + " of its " + std::to_string(quota) + " requests");
    }
    std::lock_guard lk(window_mu_);
    d.requests += done;
    requests_total_ += done;
  }

  void verify() {
    auto& g = *guest_;
    for (auto& dp : doms_) {
      Domain& d = *dp;
      if (d.dead) continue;  // already failed, and its domain is gone
      uint64_t jobs = 0;
      for (uint64_t j : d.jobs) jobs += j;
      if (!g.wait_msis(d.id, static_cast<uint32_t>(jobs), std::chrono::seconds(30))) {
        failures_.add("dom" + std::to_string(d.id.value) + ": fewer MSIs than jobs");
      }
      std::vector<uint64_t> per(o_.vgpus, 0);
      uint64_t stray = 0;
      for (const auto& m : g.msis(d.id)) {
        const uint32_t vec = m.data & 0xff;
        if (m.addr == kMsiAddr && vec >= kMsiVector0 && vec < kMsiVector0 + o_.vgpus) {
          ++per[vec - kMsiVector0];
        } else {
          ++stray;
        }
      }
      for (unsigned i = 0; i < o_.vgpus; ++i) {
        expect_eq(d, i, "MSIs of vGPU (one per job)", per[i], d.jobs[i]);
        const uint64_t e = kEngineGpa + i * kBarStride;
        expect_eq(d, 0, "engine ERROR_COUNT",
                  io(d, 0, xensim::Space::mmio, kRead, e + eng::kRegErrorCount, 4, 0, nullptr), 0);
      }
      expect_eq(d, 0, "stray MSIs", stray, 0);
      const auto st = g.status(d.id);
      // Every request the guest issued reached the device model exactly once (the
      // verification reads above are the vGPU count more).
      expect_eq(d, 0, "ioreqs counted by xensim", st.ioreqs - d.ioreqs_before, d.requests + o_.vgpus);
      if (!st.hung.empty() || st.hung_reports != 0)
        failures_.add("dom" + std::to_string(d.id.value) + ": hung vCPU");
      if (!st.crash_reason.empty())
        failures_.add("dom" + std::to_string(d.id.value) + " crashed: " + st.crash_reason);
      if (!d.dm->running()) failures_.add("dom" + std::to_string(d.id.value) + ": xvgpu-dm died");
    }
    report();
  }

  void report() {
    std::vector<double> tput;
    std::vector<uint64_t> win;
    for (auto& d : doms_) tput.push_back(static_cast<double>(d->requests) / d->finished_s);
    {
      std::lock_guard lk(window_mu_);
      win = window_;
    }
    std::sort(tput.begin(), tput.end());
    std::sort(win.begin(), win.end());
    std::printf("%llu requests (%llu engine jobs, each 2 descriptors + 1 MSI) in %.2f s: %.0f requests/s\n",
                static_cast<unsigned long long>(requests_total_),
                static_cast<unsigned long long>(jobs_total_.load()), wall_s_,
                static_cast<double>(requests_total_) / wall_s_);
    std::printf(
        "per-domain throughput (requests/s until its quota was done): min %.0f, median %.0f, max %.0f, "
        "spread max/min %.2f\n",
        tput.front(), tput[tput.size() / 2], tput.back(), tput.back() / tput.front());
    if (!win.empty()) {
      std::printf(
          "window until the first domain completed (%.2f s): per-domain requests min %llu, median %llu, "
          "max %llu, spread max/min %.2f\n",
          window_s_, static_cast<unsigned long long>(win.front()),
          static_cast<unsigned long long>(win[win.size() / 2]), static_cast<unsigned long long>(win.back()),
          win.front() == 0 ? 0.0 : static_cast<double>(win.back()) / static_cast<double>(win.front()));
      // Starvation: a domain not served at all while another did its whole quota.
      if (win.front() == 0) failures_.add("a domain was starved: 0 requests served in the fairness window");
    }
  }

  void shutdown() {
    // Production stop: SIGTERM, clean exit.
    for (auto& dp : doms_) {
      Domain& d = *dp;
      d.ram.reset();
      const int rc = terminate(*d.dm, std::chrono::seconds(20));
      if (rc != 0) {
        failures_.add("xvgpu-dm of dom" + std::to_string(d.id.value) + " exit status " + std::to_string(rc) +
                      ":\n" + read_file(dmlog(d)));
      }
    }
    for (auto& dp : doms_) {
      if (dp->dead) continue;
      try {
        guest_->destroy_domain(dp->id);
      } catch (const std::exception& ex) {
        failures_.add(std::string("destroy: ") + ex.what());
      }
    }
    try {
      guest_->shutdown_daemon();
    } catch (...) {
    }
    (void)terminate(*daemon_, std::chrono::seconds(5));
  }

  Options o_;
  std::string dir_;
  std::string socket_;
  std::unique_ptr<ChildProcess> daemon_;
  std::optional<xensim::Guest> guest_;
  std::vector<std::unique_ptr<Domain>> doms_;
  Failures failures_;
  Clock::time_point t0_;
  double wall_s_ = 0;
  std::mutex window_mu_;
  std::vector<uint64_t> window_;
  double window_s_ = 0;
  uint64_t requests_total_ = 0;
  std::atomic<uint64_t> jobs_total_{0};
};

}  // namespace

int main(int argc, char** argv) {
  Options o;
  CLI::App app{"xvgpu-xensim-load: many domains, one xvgpu-dm each, every vCPU driving a simgpu vGPU",
               "xvgpu-xensim-load"};
  app.add_option("--domains", o.domains, "Domains (one xvgpu-dm process each)")->check(CLI::Range(1, 200));
  app.add_option("--vgpus", o.vgpus, "vGPUs per domain = vCPUs per domain (vCPU v drives vGPU v)")
      ->check(CLI::Range(1, 8));
  app.add_option("--requests", o.requests, "Requests (ioreqs) in total, split evenly over the vCPUs")
      ->check(CLI::Range(uint64_t{1}, uint64_t{1} << 40));
  app.add_option("--job-percent", o.job_percent, "Share of operations that are engine jobs")
      ->check(CLI::Range(0, 100));
  app.add_option("--type", o.type, "vGPU type");
  app.add_option("--xensimd", o.xensimd, "xensimd binary");
  app.add_option("--dm", o.dm, "xvgpu-dm binary");
  app.add_option("--xensim-lib", o.libdir, "Directory of the drop-in Xen libraries");
  app.add_flag("--keep", o.keep, "Keep the logs directory");
  CLI11_PARSE(app, argc, argv);
  ::signal(SIGPIPE, SIG_IGN);
  try {
    return Load(o).run();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "xvgpu-xensim-load: %s\n", e.what());
    return 1;
  }
}
