// Cross-process tests (label "xensim"): xensimd in its own process, device models in theirs,
// linked against Debian's libraries and run with LD_LIBRARY_PATH=${XENSIM_LIBDIR}.
#include <gtest/gtest.h>

#include <future>
#include <map>
#include <mutex>
#include <random>
#include <thread>

#include "echo_server.h"
#include "support/child_process.h"
#include "xensim/guest.h"
#include "xensim/xen_headers.h"

namespace {

using namespace std::chrono_literals;
using xensim::AccessStatus;
using xvgpu::Domid;
using xvgpu::VcpuId;
using xvgpu::test::ChildOptions;
using xvgpu::test::ChildProcess;
using xvgpu::test::ExitStatus;
using xvgpu::test::Output;

class CrossProcess : public ::testing::Test {
 protected:
  CrossProcess()
      : socket_("/tmp/xensim-test-" + std::to_string(::getpid()) + "-" +
                ::testing::UnitTest::GetInstance()->current_test_info()->name() + ".sock"),
        daemon_({XENSIMD_PATH, "--socket", socket_, "--hang-timeout-ms", "200"}) {
    for (int i = 0; i < 500; ++i) {
      if (xensim::connect_socket(socket_)) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    guest_.emplace(xensim::Guest::connect(socket_));
  }
  ~CrossProcess() override {
    try {
      guest_->shutdown_daemon();
    } catch (...) {
    }
    EXPECT_TRUE(daemon_.wait_for(10s).has_value()) << "xensimd did not exit when told to";
  }

  // An echo server (stdout piped: "ready", its counters) on xensim's libraries.
  std::unique_ptr<ChildProcess> echo(Domid d, std::vector<std::string> args,
                                     std::vector<std::string> env = {}) {
    std::vector<std::string> argv{ECHO_PATH, std::to_string(d.value)};
    argv.insert(argv.end(), args.begin(), args.end());
    env.push_back("LD_LIBRARY_PATH=" XENSIM_LIBDIR);
    env.push_back("XENSIM_SOCKET=" + socket_);
    ChildOptions o;
    o.env = std::move(env);
    o.out = Output::pipe();
    return std::make_unique<ChildProcess>(argv, o);
  }
  // The xensim CLI's stdout; its exit status goes to last_rc_.
  std::string cli(std::vector<std::string> args) {
    args.insert(args.begin(), {XENSIM_CLI_PATH, "--socket", socket_});
    ChildOptions o;
    o.out = Output::pipe();
    ChildProcess c(args, o);
    std::string out = c.read_all(10s);
    const auto st = c.wait_for(10s);
    last_rc_ = st ? st->shell_code() : -1;
    return out;
  }

  std::string socket_;
  ChildProcess daemon_;
  std::optional<xensim::Guest> guest_;
  int last_rc_ = 0;
};

// ---- the done-when test: 4 vCPUs, 100,000 mixed accesses, every answer checked ----

struct Model {
  std::map<std::pair<uint8_t, uint64_t>, uint64_t> regs;
  uint64_t read(uint8_t type, uint64_t addr, uint32_t size) const {
    auto it = regs.find({type, addr});
    const uint64_t mask = size >= 8 ? ~0ull : (uint64_t{1} << (size * 8)) - 1;
    return (it == regs.end() ? echo::echo_default(type, addr, size) : it->second) & mask;
  }
};

uint64_t mask_of(uint32_t size) {
  return size >= 8 ? ~0ull : (uint64_t{1} << (size * 8)) - 1;
}

TEST_F(CrossProcess, EchoServerAnswers100kMixedAccessesFrom4Vcpus) {
  auto& g = *guest_;
  const Domid d = g.create_domain({.vcpus = 4, .ram_mib = 32, .start_paused = true});
  auto dm = echo(d, {});
  ASSERT_EQ(dm->read_line(), "ready");
  g.unpause(d);

  constexpr int kVcpus = 4, kPerVcpu = 25000;
  std::mutex pci_lock;  // CF8 is one latch per domain: the guest OS serialises CF8+CFC pairs
  std::atomic<int> failures{0};
  std::atomic<uint64_t> done{0};
  const uint64_t sbdf = XEN_DMOP_PCI_SBDF(0, echo::kPciBus, echo::kPciDev, echo::kPciFn);
  auto vcpu_thread = [&](uint32_t v) {
    std::mt19937_64 rng(1000 + v);
    Model m;
    const uint64_t port0 = echo::kPortFirst + v * 0x40, mmio0 = echo::kMmioFirst + v * 0x40000;
    const uint64_t rep_mmio0 = mmio0 + 0x10000, buf0 = 0x200000 + v * 0x40000;
    auto check = [&](bool ok, const char* what, uint64_t got, uint64_t want) {
      if (!ok && failures.fetch_add(1) < 10)
        ADD_FAILURE() << "vcpu " << v << " " << what << ": got 0x" << std::hex << got << " want 0x" << want;
    };
    auto io = [&](const xensim::Access& a) {
      auto r = g.access(d, VcpuId{v}, a);
      check(r.status == AccessStatus::ok, "status", static_cast<uint64_t>(r.status), 0);
      return r;
    };
    for (int i = 0; i < kPerVcpu; ++i) {
      const int kind = static_cast<int>(rng() % 10);
      const bool write = rng() % 2 == 0;
      xensim::Access a;
      a.dir = write ? IOREQ_WRITE : IOREQ_READ;
      if (kind <= 2) {  // PIO on a per-port fixed size (the last 4 ports are rep ports)
        const uint64_t k = rng() % 14;
        a.space = xensim::Space::pio;
        a.addr = port0 + k * 4;
        a.size = 1u << (k % 3);
        a.data = rng() & mask_of(a.size);
        const auto r = io(a);
        if (write)
          m.regs[{IOREQ_TYPE_PIO, a.addr}] = a.data;
        else
          check(r.data == m.read(IOREQ_TYPE_PIO, a.addr, a.size), "pio read", r.data,
                m.read(IOREQ_TYPE_PIO, a.addr, a.size));
      } else if (kind <= 5) {  // MMIO, 1..8 bytes
        const uint64_t k = rng() % 512;
        a.space = xensim::Space::mmio;
        a.addr = mmio0 + k * 8;
        a.size = 1u << (k % 4);
        a.data = rng() & mask_of(a.size);
        const auto r = io(a);
        if (write)
          m.regs[{IOREQ_TYPE_COPY, a.addr}] = a.data;
        else
          check(r.data == m.read(IOREQ_TYPE_COPY, a.addr, a.size), "mmio read", r.data,
                m.read(IOREQ_TYPE_COPY, a.addr, a.size));
      } else if (kind <= 7) {  // PCI config through CF8/CFC, this vCPU's 64 registers
        const uint32_t size = 1u << (rng() % 3);
        const uint16_t reg = static_cast<uint16_t>(v * 64 + (rng() % (64 / size)) * size);
        const uint64_t key = (sbdf << 32) | reg;
        std::lock_guard lk(pci_lock);
        const uint32_t cf8 = 0x80000000u | (uint32_t{echo::kPciDev} << 11) | (reg & 0xfcu);
        xensim::Access w8;
        w8.space = xensim::Space::pio;
        w8.dir = IOREQ_WRITE;
        w8.addr = 0xcf8;
        w8.size = 4;
        w8.data = cf8;
        const auto r8 = g.access(d, VcpuId{v}, w8);
        check(r8.status == AccessStatus::unclaimed, "cf8 write", static_cast<uint64_t>(r8.status), 1);
        a.space = xensim::Space::pio;
        a.addr = 0xcfc + (reg & 3u);
        a.size = size;
        a.data = rng() & mask_of(size);
        const auto r = io(a);
        // The echo device stores whole values per register address (no byte lanes).
        if (write)
          m.regs[{IOREQ_TYPE_PCI_CONFIG, key}] = a.data;
        else
          check(r.data == m.read(IOREQ_TYPE_PCI_CONFIG, key, size), "pci read", r.data,
                m.read(IOREQ_TYPE_PCI_CONFIG, key, size));
      } else {  // rep with data_is_ptr: ins/outs on a port, movs to/from MMIO, sometimes df
        const bool mmio = kind == 9;
        a.space = mmio ? xensim::Space::mmio : xensim::Space::pio;
        a.size = mmio ? 4 : 2;
        a.count = 1 + static_cast<uint32_t>(rng() % 64);
        a.df = rng() % 4 == 0 ? 1 : 0;
        a.data_is_ptr = 1;
        const uint64_t span = uint64_t{a.count} * a.size;
        // Buffer offsets straddle page boundaries often (rep clipping).
        const uint64_t lo = buf0 + 0x1000 * (rng() % 4) + 0xf00 + (rng() % 64) * a.size;
        a.data = a.df ? lo + span - a.size : lo;
        const uint64_t dev_lo = mmio ? rep_mmio0 + (rng() % 256) * 4 : port0 + 0x38;
        a.addr = mmio && a.df ? dev_lo + span - a.size : dev_lo;
        const uint8_t type = mmio ? IOREQ_TYPE_COPY : IOREQ_TYPE_PIO;
        auto elem_dev = [&](uint32_t e) {
          return mmio ? (a.df ? a.addr - uint64_t{e} * a.size : a.addr + uint64_t{e} * a.size) : a.addr;
        };
        auto elem_buf = [&](uint32_t e) {
          return a.df ? a.data - uint64_t{e} * a.size : a.data + uint64_t{e} * a.size;
        };
        if (write) {
          std::vector<std::byte> buf(span);
          for (auto& b : buf) b = static_cast<std::byte>(rng());
          g.write_ram(d, lo, buf);
          io(a);
          for (uint32_t e = 0; e < a.count; ++e) {
            uint64_t val = 0;
            std::memcpy(&val, buf.data() + (elem_buf(e) - lo), a.size);
            m.regs[{type, elem_dev(e)}] = val;
          }
        } else {
          io(a);
          std::vector<std::byte> buf(span);
          g.read_ram(d, lo, buf);
          for (uint32_t e = 0; e < a.count; ++e) {
            uint64_t val = 0;
            std::memcpy(&val, buf.data() + (elem_buf(e) - lo), a.size);
            const uint64_t want = m.read(type, elem_dev(e), a.size);
            check(val == want, "rep read element", val, want);
          }
        }
      }
      done.fetch_add(1);
    }
  };
  std::vector<std::thread> threads;
  for (uint32_t v = 0; v < kVcpus; ++v) threads.emplace_back(vcpu_thread, v);
  for (auto& t : threads) t.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_EQ(done.load(), uint64_t{kVcpus} * kPerVcpu);

  const auto st = g.status(d);
  EXPECT_EQ(st.info.state, xensim::DomainState::running);
  EXPECT_TRUE(st.hung.empty());
  EXPECT_EQ(st.hung_reports, 0u);
  dm->signal(SIGTERM);
  const std::string counters = dm->read_line();
  EXPECT_EQ(dm->wait_for(10s), ExitStatus::exited(0));
  // None lost: the device model answered exactly the ioreqs the host sent, without errors.
  EXPECT_EQ(counters.substr(0, counters.find(" invalidates")), "ioreqs " + std::to_string(st.ioreqs))
      << counters;
  EXPECT_NE(counters.find("errors 0"), std::string::npos) << counters;
  EXPECT_GE(st.ioreqs, uint64_t{kVcpus} * kPerVcpu);
}

// ---- failure injection reaches a device model in another process ----

TEST_F(CrossProcess, XensimFailEnvMakesTheDeviceModelsCallFail) {
  const Domid d = guest_->create_domain({.vcpus = 1, .ram_mib = 8, .start_paused = false});
  auto dm = echo(d, {}, {"XENSIM_FAIL=xenforeignmemory_map_resource:EOPNOTSUPP:1"});
  const std::string line = dm->read_line();
  EXPECT_EQ(line.rfind("error map_resource", 0), 0u) << line;
  EXPECT_NE(line.find(std::strerror(EOPNOTSUPP)), std::string::npos) << line;
  EXPECT_EQ(dm->wait_for(10s), ExitStatus::exited(1));
  // The legacy path (what a DM falls back to on EOPNOTSUPP) still works with that rule.
  auto legacy = echo(d, {"legacy"}, {"XENSIM_FAIL=xenforeignmemory_map_resource:EOPNOTSUPP:1"});
  EXPECT_EQ(legacy->read_line(), "ready");
  EXPECT_EQ(guest_->mmio_read(d, VcpuId{0}, echo::kMmioFirst, 4),
            echo::echo_default(IOREQ_TYPE_COPY, echo::kMmioFirst, 4));
}

TEST_F(CrossProcess, HostRuleFromTheCliFailsTheDeviceModel) {
  const Domid d = guest_->create_domain({.vcpus = 1, .ram_mib = 8, .start_paused = false});
  cli({"fail", "xendevicemodel_create_ioreq_server", "ENOSPC", "1"});
  EXPECT_EQ(last_rc_, 0);
  auto dm = echo(d, {});
  const std::string line = dm->read_line();
  EXPECT_EQ(line.rfind("error create_ioreq_server", 0), 0u) << line;
  EXPECT_NE(line.find(std::strerror(ENOSPC)), std::string::npos) << line;
  auto again = echo(d, {});
  EXPECT_EQ(again->read_line(), "ready");  // only the 1st use failed
}

// ---- legacy mapping, buffered ring and TIMEOFFSET across processes ----

TEST_F(CrossProcess, LegacyPathBufferedWritesAndTimeOffset) {
  auto& g = *guest_;
  const Domid d = g.create_domain({.vcpus = 2, .ram_mib = 8, .start_paused = false});
  auto dm = echo(d, {"legacy", "bufioreq", "low"});
  ASSERT_EQ(dm->read_line(), "ready");
  for (uint64_t i = 0; i < 100; ++i)
    EXPECT_EQ(g.buffered_write(d, VcpuId{0}, xensim::Space::mmio, 0xa0010, 1, i).status,
              AccessStatus::buffered);
  EXPECT_EQ(g.buffered_write(d, VcpuId{1}, xensim::Space::mmio, 0xa0008, 8, 0x0102030405060708ull).status,
            AccessStatus::buffered);
  EXPECT_EQ(g.time_offset(d, 42), 1u);
  // A synchronous read after the buffered writes sees them (the DM drains the ring first).
  EXPECT_EQ(g.mmio_read(d, VcpuId{0}, 0xa0010, 1), 99u);
  EXPECT_EQ(g.mmio_read(d, VcpuId{1}, 0xa0008, 8), 0x0102030405060708ull);
  dm->signal(SIGTERM);
  const std::string counters = dm->read_line();
  EXPECT_NE(counters.find("timeoffsets 1 buffered 101"), std::string::npos) << counters;
}

// ---- a device model that dies: the vCPU hangs and is reported; the domain can be destroyed ----

TEST_F(CrossProcess, DeadDeviceModelLeavesTheVcpuHungAndReported) {
  auto& g = *guest_;
  const Domid d = g.create_domain({.vcpus = 1, .ram_mib = 8, .start_paused = false});
  auto dm = echo(d, {});
  ASSERT_EQ(dm->read_line(), "ready");
  dm->signal(SIGKILL);
  EXPECT_EQ(dm->wait(), ExitStatus::killed_by(SIGKILL));
  auto f = std::async(std::launch::async, [&] { return g.mmio_read(d, VcpuId{0}, echo::kMmioFirst, 4); });
  std::this_thread::sleep_for(std::chrono::milliseconds(400));
  const auto st = g.status(d);
  ASSERT_EQ(st.hung.size(), 1u);
  EXPECT_EQ(st.hung[0].addr, echo::kMmioFirst);
  g.destroy_domain(d);
  f.get();
  EXPECT_THROW(g.status(d), xvgpu::SystemError);
}

// ---- the CLI as a script would use it ----

TEST_F(CrossProcess, CliScriptsADomainAndAnEchoServer) {
  std::string id = cli({"create", "--vcpus", "2", "--ram", "8"});
  ASSERT_EQ(last_rc_, 0);
  id.pop_back();  // the newline
  const Domid d{static_cast<uint16_t>(std::stoul(id))};
  EXPECT_NE(cli({"status", id}).find("state paused"), std::string::npos);
  auto dm = echo(d, {});
  ASSERT_EQ(dm->read_line(), "ready");
  cli({"unpause", id});
  EXPECT_EQ(cli({"io", id, "mmio", "write", "0xe0000010", "0x55", "--vcpu", "1"}), "ok 0x0 ioreqs=1\n");
  EXPECT_EQ(cli({"io", id, "mmio", "read", "0xe0000010"}), "ok 0x55 ioreqs=1\n");
  EXPECT_EQ(cli({"io", id, "pio", "read", "0x60", "--size", "1"}), "unclaimed 0xff ioreqs=0\n");
  cli({"pci", id, "write", "00:03.0", "0x10", "0xfee1dead"});
  EXPECT_EQ(cli({"pci", id, "read", "00:03.0", "0x10"}), "0xfee1dead\n");
  cli({"mem-write", id, "0x1000", "a1b2"});
  EXPECT_EQ(cli({"mem-read", id, "0x1000", "2"}), "a1b2\n");
  EXPECT_NE(cli({"list"}).find(id + " running"), std::string::npos);
  cli({"wait-msi", id, "1", "--timeout-ms", "50"});
  EXPECT_EQ(last_rc_, 1);  // nothing injected
  cli({"destroy", id});
  // The echo server still maps the ioreq page: the domain is a zombie until it exits.
  cli({"wait-state", id, "dying", "--timeout-ms", "1000"});
  EXPECT_EQ(last_rc_, 0);
  const std::string st = cli({"status", id});
  EXPECT_NE(st.find("state dying"), std::string::npos) << st;
  EXPECT_NE(st.find("mappings 1"), std::string::npos) << st;
  EXPECT_NE(cli({"list"}).find(id + " dying"), std::string::npos);
  dm->signal(SIGKILL);  // a process that exits releases its mappings
  EXPECT_EQ(dm->wait(), ExitStatus::killed_by(SIGKILL));
  cli({"wait-state", id, "gone", "--timeout-ms", "1000"});
  EXPECT_EQ(last_rc_, 0);
}

}  // namespace
