#include "xensim/guest.h"

#include <sys/mman.h>

#include <cstring>
#include <random>

#include "xensim/capi_common.h"
#include "xensim/host.h"
#include "xensim/xen_headers.h"

namespace xensim {

using xvgpu::Domid;
using xvgpu::SystemError;
using xvgpu::VcpuId;

namespace {

// A version-4 (random) UUID, as libxl_uuid_generate gives every domain created without uuid=.
std::array<uint8_t, 16> random_uuid() {
  std::random_device rd;
  std::array<uint8_t, 16> u{};
  for (size_t i = 0; i < u.size(); i += 4) {
    const uint32_t r = rd();
    std::memcpy(&u[i], &r, 4);
  }
  u[6] = static_cast<uint8_t>((u[6] & 0x0f) | 0x40);
  u[8] = static_cast<uint8_t>((u[8] & 0x3f) | 0x80);
  return u;
}

}  // namespace

RamMapping::~RamMapping() {
  if (addr_ != nullptr) {
    ::munmap(addr_, len_);
  }
}

Guest::Guest(std::function<std::unique_ptr<Transport>()> factory)
    : factory_(std::move(factory)), mu_(std::make_unique<std::mutex>()) {}

Guest::Guest(Host& host)
    : Guest([&host] { return hello(connect_in_process(host), SessionKind::guest, nullptr); }) {}

Guest Guest::connect(const std::string& socket_path) {
  Guest g([socket_path] { return hello(connect_socket(socket_path), SessionKind::guest, nullptr); });
  // Fail early and clearly when xensimd is not there.
  auto t = g.factory_();
  if (!t) {
    throw SystemError(errno, "connecting to xensimd at " + socket_path);
  }
  g.idle_.push_back(std::move(t));
  return g;
}

Guest::Guest(Guest&&) noexcept = default;
Guest& Guest::operator=(Guest&&) noexcept = default;
Guest::~Guest() = default;

Reply Guest::call(Op op, const Writer& w, const char* what) {
  std::unique_ptr<Transport> t;
  {
    std::lock_guard lk(*mu_);
    if (!idle_.empty()) {
      t = std::move(idle_.back());
      idle_.pop_back();
    }
  }
  if (!t) {
    t = factory_();
  }
  if (!t) {
    throw SystemError(errno, std::string("xensim guest: ") + what + ": no connection to the host");
  }
  Reply r = t->call(op, w);
  if (!(r.rc < 0 && r.err == ECONNRESET)) {
    std::lock_guard lk(*mu_);
    idle_.push_back(std::move(t));
  }
  if (r.rc < 0) {
    throw SystemError(r.err, std::string("xensim guest: ") + what);
  }
  return r;
}

namespace {
Writer dom(Domid d) {
  Writer w;
  w.put(d.value);
  return w;
}
}  // namespace

Domid Guest::create_domain(const DomainConfig& cfg, const DomainIdentity& id) {
  Writer w;
  w.put(cfg.vcpus).put(cfg.ram_mib).put<uint8_t>(cfg.start_paused).put(id.domid);
  w.put(id.handle ? *id.handle : random_uuid());
  w.str(id.name);
  Reply r = call(Op::guest_create_domain, w, "create domain");
  Reader in(r.data);
  return Domid{in.get<uint16_t>()};
}

void Guest::destroy_domain(Domid d) {
  call(Op::guest_destroy_domain, dom(d), "destroy domain");
}
void Guest::pause(Domid d) {
  call(Op::guest_pause, dom(d), "pause domain");
}
void Guest::unpause(Domid d) {
  call(Op::guest_unpause, dom(d), "unpause domain");
}

DomainStatus Guest::status(Domid d) {
  Reply r = call(Op::guest_status, dom(d), "domain status");
  Reader in(r.data);
  DomainStatus s;
  s.info = in.get<DomainInfo>();
  s.crash_reason = in.str();
  const auto n = in.get<uint32_t>();
  for (uint32_t i = 0; i < n; ++i) {
    s.hung.push_back(in.get<HungVcpu>());
  }
  s.hung_reports = in.get<uint64_t>();
  s.ioreqs = in.get<uint64_t>();
  s.unclaimed = in.get<uint64_t>();
  return s;
}

std::vector<DomainInfo> Guest::list_domains() {
  Reply r = call(Op::guest_list_domains, Writer{}, "list domains");
  Reader in(r.data);
  std::vector<DomainInfo> out(in.get<uint32_t>());
  for (auto& i : out) {
    i = in.get<DomainInfo>();
  }
  return out;
}

AccessResult Guest::access(Domid d, VcpuId vcpu, const Access& a) {
  Writer w = dom(d);
  w.put(vcpu.value).put(a);
  Reply r = call(Op::guest_access, w, "vCPU access");
  Reader in(r.data);
  return in.get<AccessResult>();
}

namespace {
Access simple(Space sp, uint8_t dir, uint64_t addr, uint32_t size, uint64_t data) {
  Access a;
  a.space = sp;
  a.dir = dir;
  a.addr = addr;
  a.size = size;
  a.data = data;
  return a;
}
}  // namespace

uint64_t Guest::pio_read(Domid d, VcpuId v, uint16_t port, uint32_t size) {
  return access(d, v, simple(Space::pio, IOREQ_READ, port, size, 0)).data;
}
void Guest::pio_write(Domid d, VcpuId v, uint16_t port, uint32_t size, uint64_t value) {
  access(d, v, simple(Space::pio, IOREQ_WRITE, port, size, value));
}
uint64_t Guest::mmio_read(Domid d, VcpuId v, uint64_t gpa, uint32_t size) {
  return access(d, v, simple(Space::mmio, IOREQ_READ, gpa, size, 0)).data;
}
void Guest::mmio_write(Domid d, VcpuId v, uint64_t gpa, uint32_t size, uint64_t value) {
  access(d, v, simple(Space::mmio, IOREQ_WRITE, gpa, size, value));
}
AccessResult Guest::buffered_write(Domid d, VcpuId v, Space space, uint64_t addr, uint32_t size,
                                   uint64_t value) {
  Access a = simple(space, IOREQ_WRITE, addr, size, value);
  a.buffered = 1;
  return access(d, v, a);
}

namespace {
uint32_t cf8_of(xvgpu::Sbdf s, uint16_t reg) {
  return 0x80000000u | (static_cast<uint32_t>(s.bdf()) << 8) | (reg & 0xfcu);
}
}  // namespace

uint32_t Guest::pci_cfg_read(Domid d, VcpuId v, xvgpu::Sbdf sbdf, uint16_t reg, uint32_t size) {
  pio_write(d, v, 0xcf8, 4, cf8_of(sbdf, reg));
  return static_cast<uint32_t>(pio_read(d, v, static_cast<uint16_t>(0xcfc + (reg & 3)), size));
}
void Guest::pci_cfg_write(Domid d, VcpuId v, xvgpu::Sbdf sbdf, uint16_t reg, uint32_t size, uint32_t value) {
  pio_write(d, v, 0xcf8, 4, cf8_of(sbdf, reg));
  pio_write(d, v, static_cast<uint16_t>(0xcfc + (reg & 3)), size, value);
}

uint32_t Guest::time_offset(Domid d, int64_t delta) {
  Writer w = dom(d);
  w.put(delta);
  Reply r = call(Op::guest_time_offset, w, "time offset");
  Reader in(r.data);
  return in.get<uint32_t>();
}

AccessStatus Guest::remove_memory(Domid d, VcpuId v, xvgpu::Gfn first, uint64_t count) {
  Writer w = dom(d);
  w.put(v.value).put(first.value).put(count);
  Reply r = call(Op::guest_remove_memory, w, "remove guest memory");
  Reader in(r.data);
  return in.get<AccessResult>().status;
}

void Guest::read_ram(Domid d, uint64_t gpa, std::span<std::byte> out) {
  constexpr size_t kChunk = 8u << 20;
  for (size_t off = 0; off < out.size(); off += kChunk) {
    const size_t n = std::min(kChunk, out.size() - off);
    Writer w = dom(d);
    w.put(gpa + off).put<uint64_t>(n);
    Reply r = call(Op::guest_read_ram, w, "read guest RAM");
    Reader in(r.data);
    const auto b = in.bytes();
    std::memcpy(out.data() + off, b.data(), std::min(n, b.size()));
  }
}

void Guest::write_ram(Domid d, uint64_t gpa, std::span<const std::byte> in) {
  constexpr size_t kChunk = 8u << 20;
  for (size_t off = 0; off < in.size(); off += kChunk) {
    const size_t n = std::min(kChunk, in.size() - off);
    Writer w = dom(d);
    w.put(gpa + off).bytes({reinterpret_cast<const uint8_t*>(in.data()) + off, n});
    call(Op::guest_write_ram, w, "write guest RAM");
  }
}

std::unique_ptr<RamMapping> Guest::map_ram(Domid d, xvgpu::Gfn first, uint64_t pages) {
  int fd = -1;
  {
    std::lock_guard lk(*mu_);
    if (auto it = memfds_.find(d.value); it != memfds_.end()) {
      fd = it->second.get();
    }
  }
  Writer w = dom(d);
  w.put(first.value).put(pages).put<uint8_t>(fd >= 0);
  Reply r = call(Op::guest_map_ram, w, "map guest RAM");
  if (!r.fds.empty()) {
    std::lock_guard lk(*mu_);
    fd = r.fds.front().get();
    memfds_.try_emplace(d.value, std::move(r.fds.front()));
  }
  Reader in(r.data);
  const auto pb = in.bytes();
  std::vector<uint64_t> pgs(pb.size() / sizeof(uint64_t));
  std::memcpy(pgs.data(), pb.data(), pgs.size() * sizeof(uint64_t));
  void* m = map_pages(fd, pgs, {}, PROT_READ | PROT_WRITE, nullptr, 0);
  if (m == nullptr) {
    throw SystemError(errno, "mapping guest RAM");
  }
  return std::make_unique<RamMapping>(m, pages * 4096);
}

std::vector<MsiRecord> Guest::msis(Domid d, uint32_t from) {
  Writer w = dom(d);
  w.put(from);
  Reply r = call(Op::guest_msis, w, "list MSIs");
  Reader in(r.data);
  (void)in.get<uint32_t>();
  std::vector<MsiRecord> out(in.get<uint32_t>());
  for (auto& m : out) {
    m = in.get<MsiRecord>();
  }
  return out;
}

bool Guest::wait_msis(Domid d, uint32_t count, std::chrono::milliseconds timeout) {
  Writer w = dom(d);
  w.put(count).put<uint32_t>(timeout.count());
  try {
    call(Op::guest_wait_msis, w, "wait for MSIs");
    return true;
  } catch (const SystemError& e) {
    if (e.err() == ETIMEDOUT) {
      return false;
    }
    throw;
  }
}

uint32_t Guest::intx_level(Domid d, xvgpu::Sbdf sbdf, unsigned pin) {
  Writer w = dom(d);
  w.put<uint32_t>(XEN_DMOP_PCI_SBDF(sbdf.seg, sbdf.bus, sbdf.dev, 0)).put<uint8_t>(pin);
  Reply r = call(Op::guest_intx, w, "INTx level");
  Reader in(r.data);
  return in.get<uint32_t>();
}

bool Guest::wait_intx(Domid d, xvgpu::Sbdf sbdf, unsigned pin, uint32_t level,
                      std::chrono::milliseconds timeout) {
  Writer w = dom(d);
  w.put<uint32_t>(XEN_DMOP_PCI_SBDF(sbdf.seg, sbdf.bus, sbdf.dev, 0)).put<uint8_t>(static_cast<uint8_t>(pin));
  w.put(level).put<uint32_t>(static_cast<uint32_t>(timeout.count()));
  try {
    call(Op::guest_wait_intx, w, "wait for INTx level");
    return true;
  } catch (const SystemError& e) {
    if (e.err() == ETIMEDOUT) {
      return false;
    }
    throw;
  }
}

void Guest::set_log_dirty(Domid d, bool on) {
  Writer w = dom(d);
  w.put<uint8_t>(on ? 1 : 0);
  (void)call(Op::guest_set_log_dirty, w, "set log-dirty");
}

std::vector<uint64_t> Guest::modified_pages(Domid d) {
  Reply r = call(Op::guest_modified_pages, dom(d), "modified pages");
  Reader in(r.data);
  std::vector<uint64_t> out(in.get<uint32_t>());
  for (auto& g : out) {
    g = in.get<uint64_t>();
  }
  return out;
}

void Guest::inject_failure(const std::string& name, int err, uint64_t nth, bool sticky) {
  Writer w;
  w.str(name).put<int32_t>(err).put(nth).put<uint8_t>(sticky);
  call(Op::control_inject_failure, w, "inject failure");
}
void Guest::clear_failures() {
  call(Op::control_clear_failures, Writer{}, "clear failures");
}
void Guest::set_hang_timeout(std::chrono::milliseconds t) {
  Writer w;
  w.put<uint64_t>(t.count());
  call(Op::control_set_hang_timeout, w, "set hang timeout");
}
void Guest::shutdown_daemon() {
  call(Op::control_shutdown_daemon, Writer{}, "shut down xensimd");
}

}  // namespace xensim
