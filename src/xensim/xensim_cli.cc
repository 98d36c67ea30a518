// xensim: scriptable control of a simulated Xen host (xensimd) for tests, demos and vendors.
// Every subcommand prints a short machine-friendly result and exits non-zero on failure.
#include <fcntl.h>
#include <limits.h>
#include <sys/wait.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <array>
#include <cctype>
#include <chrono>
#include <cstdio>
#include <thread>

#include "xensim/failure_injector.h"
#include "xensim/guest.h"
#include "xensim/program_main.h"
#include "xensim/xen_headers.h"

namespace {

using namespace std::chrono_literals;
using xvgpu::Domid;
using xvgpu::VcpuId;

const char* state_name(xensim::DomainState s) {
  switch (s) {
    case xensim::DomainState::paused:
      return "paused";
    case xensim::DomainState::running:
      return "running";
    case xensim::DomainState::crashed:
      return "crashed";
    case xensim::DomainState::shutdown:
      return "shutdown";
    case xensim::DomainState::dying:
      return "dying";
    case xensim::DomainState::gone:
      return "gone";
  }
  return "?";
}

const char* status_name(xensim::AccessStatus s) {
  switch (s) {
    case xensim::AccessStatus::ok:
      return "ok";
    case xensim::AccessStatus::unclaimed:
      return "unclaimed";
    case xensim::AccessStatus::ram:
      return "ram";
    case xensim::AccessStatus::buffered:
      return "buffered";
    case xensim::AccessStatus::crashed:
      return "crashed";
    case xensim::AccessStatus::destroyed:
      return "destroyed";
    case xensim::AccessStatus::invalid:
      return "invalid";
  }
  return "?";
}

std::string xensimd_path() {
  if (const char* p = std::getenv("XENSIMD")) {
    return p;
  }
  char buf[PATH_MAX];
  const ssize_t n = ::readlink("/proc/self/exe", buf, sizeof buf - 1);
  if (n <= 0) {
    return "xensimd";
  }
  std::string self(buf, static_cast<size_t>(n));
  return self.substr(0, self.rfind('/') + 1) + "xensimd";
}

int start_daemon(const std::string& socket, unsigned hang_ms, const std::string& log) {
  if (xensim::connect_socket(socket)) {
    (void)std::fprintf(stderr, "xensim: xensimd already running on %s\n", socket.c_str());
    return 1;
  }
  const std::string exe = xensimd_path();
  const pid_t pid = ::fork();
  if (pid < 0) {
    return 1;
  }
  if (pid == 0) {
    ::setsid();
    const int out = ::open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    const int in = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (out >= 0) {
      ::dup2(out, 1);
      ::dup2(out, 2);
    }
    if (in >= 0) {
      ::dup2(in, 0);
    }
    const std::string hang = std::to_string(hang_ms);
    ::execl(exe.c_str(), exe.c_str(), "--socket", socket.c_str(), "--hang-timeout-ms", hang.c_str(),
            static_cast<char*>(nullptr));
    ::_exit(127);
  }
  for (int i = 0; i < 500; ++i) {
    if (xensim::connect_socket(socket)) {
      std::printf("%d\n", pid);
      return 0;
    }
    int st = 0;
    if (::waitpid(pid, &st, WNOHANG) == pid) {
      break;
    }
    std::this_thread::sleep_for(10ms);
  }
  (void)std::fprintf(stderr, "xensim: xensimd (%s) did not come up on %s; see %s\n", exe.c_str(),
                     socket.c_str(), log.c_str());
  return 1;
}

uint64_t parse_u64(const std::string& s) {
  return std::stoull(s, nullptr, 0);
}

// xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx, as xl prints a domain's UUID.
std::string format_uuid(const uint8_t (&h)[16]) {
  char out[37];
  (void)std::snprintf(out, sizeof out, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
                      h[0], h[1], h[2], h[3], h[4], h[5], h[6], h[7], h[8], h[9], h[10], h[11], h[12], h[13],
                      h[14], h[15]);
  return out;
}

std::array<uint8_t, 16> parse_uuid(const std::string& s) {
  std::array<uint8_t, 16> h{};
  size_t n = 0;
  for (size_t i = 0; i < s.size(); ++i) {
    if ((i == 8 || i == 13 || i == 18 || i == 23) && s[i] == '-') continue;
    if (n >= 32 || std::isxdigit(static_cast<unsigned char>(s[i])) == 0) n = 33;
    if (n > 32) break;
    const int v =
        std::isdigit(static_cast<unsigned char>(s[i])) != 0 ? s[i] - '0' : (std::tolower(s[i]) - 'a' + 10);
    h[n / 2] = static_cast<uint8_t>(h[n / 2] | (n % 2 == 0 ? v << 4 : v));
    ++n;
  }
  if (n != 32 || s.size() != 36) throw std::invalid_argument("--uuid " + s + ": not a UUID");
  return h;
}

}  // namespace

namespace {
int run(int argc, char** argv) {
  CLI::App app{"xensim: control a simulated Xen 4.17 host (xensimd)"};
  app.require_subcommand(1);
  std::string socket = xensim::default_socket_path();
  app.add_option("--socket", socket, "xensimd socket (default: $XENSIM_SOCKET or /tmp/xensim-<uid>.sock)");

  unsigned hang_ms = 2000;
  std::string log = "/dev/null";
  auto* start = app.add_subcommand("start", "start xensimd in the background (prints its pid)");
  start->add_option("--hang-timeout-ms", hang_ms, "hung-vCPU report timeout");
  start->add_option("--log", log, "daemon log file");
  auto* stop = app.add_subcommand("stop", "stop xensimd");

  uint32_t vcpus = 1;
  uint64_t ram = 64;
  bool running = false;
  auto* create = app.add_subcommand("create", "create a domain (paused unless --running); prints its id");
  create->add_option("--vcpus", vcpus, "vCPUs (1..128)");
  create->add_option("--ram", ram, "RAM in MiB");
  create->add_flag("--running", running, "start it running");
  std::string create_uuid;
  uint16_t create_domid = 0;
  std::string create_name;
  create->add_option("--name", create_name, "the domain's name (as xl.cfg name=); default: xensim-DOMID");
  create->add_option("--uuid", create_uuid, "the domain's handle (as xl.cfg uuid=); default: a fresh one");
  create->add_option("--domid", create_domid,
                     "this domain id (as libxl's c_info.domid); default: Xen's choice");

  uint16_t domid = 0;
  auto dom_cmd = [&](const char* name, const char* help) {
    auto* c = app.add_subcommand(name, help);
    c->add_option("domid", domid, "domain id")->required();
    return c;
  };
  auto* destroy = dom_cmd("destroy", "destroy a domain");
  auto* pause = dom_cmd("pause", "pause a domain");
  auto* unpause = dom_cmd("unpause", "unpause a domain");
  auto* status = dom_cmd("status", "state, crash reason, hung vCPUs, counters");
  auto* list = app.add_subcommand("list", "list domains");

  uint32_t vcpu = 0;
  std::string space, dir, addr_s, value_s = "0", ptr_s;
  uint32_t size = 4, count = 1;
  bool df = false, buffered = false;
  auto* io = dom_cmd("io", "run one access on a vCPU: io DOMID pio|mmio read|write ADDR [VALUE]");
  io->add_option("space", space, "pio or mmio")->required()->check(CLI::IsMember({"pio", "mmio"}));
  io->add_option("dir", dir, "read or write")->required()->check(CLI::IsMember({"read", "write"}));
  io->add_option("addr", addr_s, "port or guest-physical address")->required();
  io->add_option("value", value_s, "value to write");
  io->add_option("--vcpu", vcpu, "vCPU");
  io->add_option("--size", size, "1, 2, 4 or 8");
  io->add_option("--count", count, "rep count");
  io->add_option("--ptr", ptr_s, "rep with data_is_ptr: guest buffer address");
  io->add_flag("--df", df, "rep walks downwards");
  io->add_flag("--buffered", buffered, "send through the buffered ring when eligible");

  std::string sbdf_s, reg_s;
  auto* pci = dom_cmd("pci", "PCI config access via CF8/CFC: pci DOMID read|write SBDF REG [VALUE]");
  pci->add_option("dir", dir, "read or write")->required()->check(CLI::IsMember({"read", "write"}));
  pci->add_option("sbdf", sbdf_s, "[SSSS:]BB:DD.F")->required();
  pci->add_option("reg", reg_s, "register offset")->required();
  pci->add_option("value", value_s, "value to write");
  pci->add_option("--vcpu", vcpu, "vCPU");
  pci->add_option("--size", size, "1, 2 or 4");

  uint64_t len = 0;
  std::string hex;
  auto* memr = dom_cmd("mem-read", "read guest RAM: mem-read DOMID GPA LEN (prints hex)");
  memr->add_option("gpa", addr_s)->required();
  memr->add_option("len", len)->required();
  auto* memw = dom_cmd("mem-write", "write guest RAM: mem-write DOMID GPA HEXBYTES");
  memw->add_option("gpa", addr_s)->required();
  memw->add_option("hex", hex)->required();
  uint64_t gfn = 0, npages = 1;
  auto* rm = dom_cmd("remove-mem", "remove guest pages (INVALIDATE broadcast): remove-mem DOMID GFN [COUNT]");
  rm->add_option("gfn", gfn)->required();
  rm->add_option("count", npages);
  rm->add_option("--vcpu", vcpu, "vCPU making the hypercall");
  int64_t delta = 0;
  auto* tofs = dom_cmd("timeoffset", "send TIMEOFFSET through the buffered rings");
  tofs->add_option("delta", delta)->required();

  std::string call, err_s, nth_s;
  bool clear = false;
  auto* fail = app.add_subcommand("fail", "inject a failure: fail CALL ERRNO N[+] | fail --clear");
  fail->add_option("call", call, "Xen library function name");
  fail->add_option("errno", err_s, "errno name or number");
  fail->add_option("nth", nth_s, "fail the Nth use (N+: from the Nth on)");
  fail->add_flag("--clear", clear, "remove every injected failure");

  uint32_t wait_count = 1, timeout_ms = 5000, pin = 0;
  auto* msis = dom_cmd("msis", "list the MSIs injected into a domain");
  auto* waitmsi = dom_cmd("wait-msi", "wait until COUNT MSIs were injected (exit 1 on timeout)");
  waitmsi->add_option("count", wait_count)->required();
  waitmsi->add_option("--timeout-ms", timeout_ms);
  auto* intx = dom_cmd("intx", "INTx level of SBDF pin: intx DOMID SBDF [PIN]");
  intx->add_option("sbdf", sbdf_s)->required();
  intx->add_option("pin", pin);
  uint32_t want_level = 1;
  auto* waitintx = dom_cmd("wait-intx", "wait until INTx of SBDF PIN is LEVEL (exit 1 on timeout)");
  waitintx->add_option("sbdf", sbdf_s)->required();
  waitintx->add_option("pin", pin)->required();
  waitintx->add_option("level", want_level)->required();
  waitintx->add_option("--timeout-ms", timeout_ms);
  std::string want_state;
  auto* waitdom =
      dom_cmd("wait-state", "wait until a domain is in STATE (paused|running|crashed|shutdown|dying|gone)");
  waitdom->add_option("state", want_state)->required();
  waitdom->add_option("--timeout-ms", timeout_ms);
  uint64_t hang_set = 0;
  auto* hang = app.add_subcommand("hang-timeout", "set the hung-vCPU report timeout");
  hang->add_option("ms", hang_set)->required();

  CLI11_PARSE(app, argc, argv);

  try {
    if (*start) {
      return start_daemon(socket, hang_ms, log);
    }
    xensim::Guest g = xensim::Guest::connect(socket);
    const Domid d{domid};
    if (*stop) {
      g.shutdown_daemon();
      for (int i = 0; i < 300 && xensim::connect_socket(socket); ++i) {
        std::this_thread::sleep_for(10ms);
      }
      return 0;
    }
    if (*create) {
      xensim::DomainIdentity id;
      id.domid = create_domid;
      id.name = create_name;
      if (!create_uuid.empty()) id.handle = parse_uuid(create_uuid);
      std::printf("%u\n",
                  g.create_domain({.vcpus = vcpus, .ram_mib = ram, .start_paused = !running}, id).value);
    } else if (*destroy) {
      g.destroy_domain(d);
    } else if (*pause) {
      g.pause(d);
    } else if (*unpause) {
      g.unpause(d);
    } else if (*status) {
      const auto s = g.status(d);
      std::printf(
          "domid %u state %s vcpus %u pages %llu/%llu ioreqs %llu unclaimed %llu hung_reports %llu mappings "
          "%llu\n",
          s.info.domid, state_name(s.info.state), s.info.nr_vcpus,
          static_cast<unsigned long long>(s.info.tot_pages),
          static_cast<unsigned long long>(s.info.max_pages), static_cast<unsigned long long>(s.ioreqs),
          static_cast<unsigned long long>(s.unclaimed), static_cast<unsigned long long>(s.hung_reports),
          static_cast<unsigned long long>(s.info.mappings));
      if (!s.crash_reason.empty()) {
        std::printf("crash_reason %s\n", s.crash_reason.c_str());
      }
      for (const auto& h : s.hung) {
        std::printf("hung vcpu %u server %u type %u addr 0x%llx\n", h.vcpu, h.server, h.type,
                    static_cast<unsigned long long>(h.addr));
      }
    } else if (*list) {
      for (const auto& i : g.list_domains()) {
        std::printf("%u %s vcpus=%u pages=%llu uuid=%s\n", i.domid, state_name(i.state), i.nr_vcpus,
                    static_cast<unsigned long long>(i.tot_pages), format_uuid(i.handle).c_str());
      }
    } else if (*io) {
      xensim::Access a;
      a.space = space == "pio" ? xensim::Space::pio : xensim::Space::mmio;
      a.dir = dir == "read" ? IOREQ_READ : IOREQ_WRITE;
      a.addr = parse_u64(addr_s);
      a.size = size;
      a.count = count;
      a.df = df;
      a.buffered = buffered;
      a.data = parse_u64(value_s);
      if (!ptr_s.empty()) {
        a.data_is_ptr = 1;
        a.data = parse_u64(ptr_s);
      }
      const auto r = g.access(d, VcpuId{vcpu}, a);
      std::printf("%s 0x%llx ioreqs=%u\n", status_name(r.status), static_cast<unsigned long long>(r.data),
                  r.ioreqs);
      return r.status == xensim::AccessStatus::crashed || r.status == xensim::AccessStatus::destroyed ||
                     r.status == xensim::AccessStatus::invalid
                 ? 1
                 : 0;
    } else if (*pci) {
      const auto sbdf = xvgpu::Sbdf::parse(sbdf_s);
      if (!sbdf) {
        throw xvgpu::Error("bad SBDF '" + sbdf_s + "' (want [SSSS:]BB:DD.F)");
      }
      const auto reg = static_cast<uint16_t>(parse_u64(reg_s));
      if (dir == "read") {
        std::printf("0x%x\n", g.pci_cfg_read(d, VcpuId{vcpu}, *sbdf, reg, size));
      } else {
        g.pci_cfg_write(d, VcpuId{vcpu}, *sbdf, reg, size, static_cast<uint32_t>(parse_u64(value_s)));
      }
    } else if (*memr) {
      std::vector<std::byte> buf(len);
      g.read_ram(d, parse_u64(addr_s), buf);
      for (auto b : buf) {
        std::printf("%02x", static_cast<unsigned>(b));
      }
      std::printf("\n");
    } else if (*memw) {
      if (hex.size() % 2 != 0) {
        throw xvgpu::Error("hex bytes must have an even number of digits");
      }
      std::vector<std::byte> buf(hex.size() / 2);
      for (size_t i = 0; i < buf.size(); ++i) {
        buf[i] = static_cast<std::byte>(std::stoul(hex.substr(2 * i, 2), nullptr, 16));
      }
      g.write_ram(d, parse_u64(addr_s), buf);
    } else if (*rm) {
      std::printf("%s\n", status_name(g.remove_memory(d, VcpuId{vcpu}, xvgpu::Gfn{gfn}, npages)));
    } else if (*tofs) {
      std::printf("%u\n", g.time_offset(d, delta));
    } else if (*fail) {
      if (clear) {
        g.clear_failures();
        return 0;
      }
      const int e = xensim::errno_from_name(err_s);
      bool sticky = !nth_s.empty() && nth_s.back() == '+';
      if (sticky) {
        nth_s.pop_back();
      }
      if (call.empty() || e == 0 || nth_s.empty()) {
        throw xvgpu::Error(
            "usage: xensim fail CALL ERRNO N[+] (e.g. xenforeignmemory_map_resource EOPNOTSUPP 1)");
      }
      g.inject_failure(call, e, parse_u64(nth_s), sticky);
    } else if (*msis) {
      for (const auto& m : g.msis(d)) {
        std::printf("addr 0x%llx data 0x%x\n", static_cast<unsigned long long>(m.addr), m.data);
      }
    } else if (*waitmsi) {
      return g.wait_msis(d, wait_count, std::chrono::milliseconds(timeout_ms)) ? 0 : 1;
    } else if (*intx) {
      const auto sbdf = xvgpu::Sbdf::parse(sbdf_s);
      if (!sbdf) {
        throw xvgpu::Error("bad SBDF '" + sbdf_s + "'");
      }
      std::printf("%u\n", g.intx_level(d, *sbdf, pin));
    } else if (*waitintx) {
      const auto sbdf = xvgpu::Sbdf::parse(sbdf_s);
      if (!sbdf) {
        throw xvgpu::Error("bad SBDF '" + sbdf_s + "'");
      }
      return g.wait_intx(d, *sbdf, pin, want_level, std::chrono::milliseconds(timeout_ms)) ? 0 : 1;
    } else if (*waitdom) {
      const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
      while (std::chrono::steady_clock::now() < deadline) {
        try {
          if (state_name(g.status(d).info.state) == want_state) {
            return 0;
          }
        } catch (const xvgpu::SystemError& e) {
          if (e.err() == ESRCH && want_state == "gone") {
            return 0;
          }
          throw;
        }
        std::this_thread::sleep_for(10ms);
      }
      return 1;
    } else if (*hang) {
      g.set_hang_timeout(std::chrono::milliseconds(hang_set));
    }
    return 0;
  } catch (const std::exception& e) {
    (void)std::fprintf(stderr, "xensim: %s\n", e.what());
    return 1;
  }
}
}  // namespace

int main(int argc, char** argv) {
  return xvgpu::xensim::program_main(argc, argv, run);
}
