// The frontend end to end on an in-process xensim host: a simulated guest issues accesses
// on its vCPUs, our Frontend serves them with a register-file device.
#include <gtest/gtest.h>
// clang-format off
extern "C" {
#include <xenforeignmemory.h>
#include <xen/xen.h>
#include <xen/hvm/ioreq.h>
#include <xen/memory.h>
}
// clang-format on
#include <sys/mman.h>

#include <atomic>
#include <condition_variable>
#include <cstring>
#include <future>
#include <mutex>
#include <set>
#include <thread>

#include "ioreq/frontend.h"
#include "test_devices.h"
#include "xensim/failure_injector.h"
#include "xensim/guest.h"
#include "xensim/host.h"

namespace xvgpu::ioreq {
namespace {

using namespace std::chrono_literals;
using gpu::AddressSpace;
using gpu::IoSpace;
using testing::RegisterFile;

constexpr uint64_t kBar = 0xf0000000;
constexpr uint64_t kBarSize = 0x10000;
constexpr uint64_t kVgaFirst = 0xa0000;
constexpr uint64_t kVgaLast = 0xbffff;
constexpr uint16_t kPorts = 0xc000;
const Sbdf kDev{0, 0, 5, 0};

class FrontendOnXensim : public ::testing::Test {
 protected:
  void SetUp() override {
    xensim::process_failures().clear();
    host = std::make_unique<xensim::Host>();
    guest = std::make_unique<xensim::Guest>(*host);
  }
  void TearDown() override {
    stop();
    fe.reset();
    xensim::process_failures().clear();
    guest.reset();
    host.reset();
  }

  Domid create(uint32_t vcpus = 2, uint64_t ram_mib = 16) {
    xensim::DomainConfig cfg;
    cfg.vcpus = vcpus;
    cfg.ram_mib = ram_mib;
    dom = guest->create_domain(cfg);
    return dom;
  }
  static FrontendOptions options() {
    FrontendOptions o;
    o.handle_signals = false;
    o.domain_check_interval = 100ms;
    return o;
  }
  // Set-up, claims, loop thread, unpause.
  void start(FrontendOptions o = options(), gpu::IoHandler* handler = nullptr) {
    fe = std::make_unique<Frontend>(dom, o);
    auto p = fe->platform();
    p.claims->claim_range(IoSpace::Mmio, kBar, kBar + kBarSize - 1);
    p.claims->claim_range(IoSpace::Mmio, kVgaFirst, kVgaLast);
    p.claims->claim_range(IoSpace::Port, kPorts, kPorts + 0xff);
    p.claims->claim_pci(kDev);
    gpu::IoHandler* h = handler != nullptr ? handler : &dev;
    stopped = std::async(std::launch::async, [this, h] { return fe->run(*h); });
    guest->unpause(dom);
  }
  void stop() {
    if (stopped.valid()) {
      fe->request_stop();
      stopped.get();
    }
  }

  xensim::Access access(xensim::Space space, bool read, uint64_t addr, uint32_t size, uint64_t data = 0,
                        uint32_t count = 1, bool ptr = false, bool df = false) {
    xensim::Access a;
    a.space = space;
    a.dir = read ? IOREQ_READ : IOREQ_WRITE;
    a.addr = addr;
    a.size = size;
    a.data = data;
    a.count = count;
    a.data_is_ptr = ptr ? 1 : 0;
    a.df = df ? 1 : 0;
    return a;
  }
  template <typename Pred>
  static bool eventually(Pred p, std::chrono::milliseconds limit = 2000ms) {
    const auto end = std::chrono::steady_clock::now() + limit;
    while (!p()) {
      if (std::chrono::steady_clock::now() > end) return false;
      std::this_thread::sleep_for(1ms);
    }
    return true;
  }

  std::unique_ptr<xensim::Host> host;
  std::unique_ptr<xensim::Guest> guest;
  Domid dom{};
  std::unique_ptr<Frontend> fe;
  RegisterFile dev;
  std::future<StopReason> stopped;
};

TEST_F(FrontendOnXensim, MmioPortAndConfigAccessesRoundTrip) {
  create(2);
  start();
  const VcpuId v0{0};
  const VcpuId v1{1};
  guest->mmio_write(dom, v0, kBar + 0x10, 4, 0xdeadbeef);
  EXPECT_EQ(guest->mmio_read(dom, v1, kBar + 0x10, 4), 0xdeadbeefu);
  guest->mmio_write(dom, v0, kBar + 0x20, 8, 0x0123456789abcdefull);
  EXPECT_EQ(guest->mmio_read(dom, v0, kBar + 0x20, 8), 0x0123456789abcdefull);
  EXPECT_EQ(guest->mmio_read(dom, v0, kBar + 0x30, 2), RegisterFile::pattern(kBar + 0x30, 2));
  guest->pio_write(dom, v1, kPorts + 4, 2, 0xbeef);
  EXPECT_EQ(guest->pio_read(dom, v1, kPorts + 4, 2), 0xbeefu);
  guest->pci_cfg_write(dom, v0, kDev, 0x3c, 1, 0x0b);
  EXPECT_EQ(guest->pci_cfg_read(dom, v0, kDev, 0x3c, 1), 0x0bu);
  // Another function on the same device is not ours: Xen's null handler answers.
  EXPECT_EQ(guest->pci_cfg_read(dom, v0, Sbdf{0, 0, 5, 1}, 0, 4), 0xffffffffu);

  bool saw_config = false;
  for (const auto& a : dev.log()) {
    if (a.access.space == AddressSpace::PciConfig && a.access.addr == 0x3c) {
      EXPECT_EQ(a.access.sbdf, kDev);
      saw_config = true;
    }
  }
  EXPECT_TRUE(saw_config);
  EXPECT_EQ(fe->stats().refused_total(), 0u);
  auto st = guest->status(dom);
  EXPECT_TRUE(st.crash_reason.empty()) << st.crash_reason;
  EXPECT_TRUE(st.hung.empty());
}

TEST_F(FrontendOnXensim, RepForwardAndBackwardThroughGuestMemory) {
  create(1);
  start();
  constexpr uint64_t kBuf = 0x10000;
  std::vector<uint32_t> src(64);
  for (uint32_t i = 0; i < src.size(); ++i) src[i] = 0x5000 + i;
  guest->write_ram(dom, kBuf, std::as_bytes(std::span(src)));

  // rep movsd into the BAR, forward.
  auto r = guest->access(dom, VcpuId{0}, access(xensim::Space::mmio, false, kBar + 0x100, 4, kBuf, 64, true));
  ASSERT_EQ(r.status, xensim::AccessStatus::ok);
  auto log = dev.log();
  ASSERT_EQ(log.size(), 64u);
  for (uint32_t i = 0; i < 64; ++i) {
    EXPECT_EQ(log[i].access.addr, kBar + 0x100 + 4 * i);
    EXPECT_EQ(log[i].value, 0x5000u + i);
  }
  // rep movsd out of the BAR, backward (df=1): both pointers walk down.
  dev.clear_log();
  r = guest->access(dom, VcpuId{0},
                    access(xensim::Space::mmio, true, kBar + 0x3fc, 4, kBuf + 0x2fc, 32, true, true));
  ASSERT_EQ(r.status, xensim::AccessStatus::ok);
  log = dev.log();
  ASSERT_EQ(log.size(), 32u);
  std::vector<uint32_t> back(32);
  guest->read_ram(dom, kBuf + 0x2fc - 31 * 4, std::as_writable_bytes(std::span(back)));
  for (uint32_t i = 0; i < 32; ++i) {
    const uint64_t addr = kBar + 0x3fc - 4 * i;  // registers never written: the pattern
    EXPECT_EQ(log[i].access.addr, addr);
    EXPECT_EQ(back[31 - i], RegisterFile::pattern(addr, 4)) << i;
  }
  // rep insb from a port: the port stays fixed.
  dev.clear_log();
  r = guest->access(dom, VcpuId{0}, access(xensim::Space::pio, true, kPorts + 8, 1, kBuf + 0x800, 100, true));
  ASSERT_EQ(r.status, xensim::AccessStatus::ok);
  log = dev.log();
  ASSERT_EQ(log.size(), 100u);
  for (const auto& a : log) EXPECT_EQ(a.access.addr, kPorts + 8u);
  EXPECT_EQ(fe->stats().refused_total(), 0u);
}

TEST_F(FrontendOnXensim, RepAcrossAPageBoundaryIsClippedIntoSeveralIoreqsAndStaysInOrder) {
  create(1);
  start();
  constexpr uint64_t kBuf = 0x20ff0;  // 16 bytes before a page boundary
  std::vector<uint32_t> src(40);
  for (uint32_t i = 0; i < src.size(); ++i) src[i] = 0x900 + i;
  guest->write_ram(dom, kBuf, std::as_bytes(std::span(src)));
  const auto r = guest->access(dom, VcpuId{0}, access(xensim::Space::mmio, false, kBar, 4, kBuf, 40, true));
  ASSERT_EQ(r.status, xensim::AccessStatus::ok);
  EXPECT_GE(r.ioreqs, 2u);
  const auto log = dev.log();
  ASSERT_EQ(log.size(), 40u);
  for (uint32_t i = 0; i < 40; ++i) {
    EXPECT_EQ(log[i].access.addr, kBar + 4 * i);
    EXPECT_EQ(log[i].value, 0x900u + i);
  }
}

// rep stos (Linux's memset_io) into the BAR, as Xen sends it: one ioreq per MMIO page with the
// value in data, stored into every item, upwards and with the direction flag.
TEST_F(FrontendOnXensim, RepStosStoresTheValueIntoEveryItemAcrossPagesAndDownwards) {
  create(1);
  start();
  auto r = guest->access(dom, VcpuId{0}, access(xensim::Space::mmio, false, kBar + 0xff0, 2, 0x1234, 16));
  ASSERT_EQ(r.status, xensim::AccessStatus::ok);
  EXPECT_EQ(r.ioreqs, 2u);  // 8 words up to the page end, 8 beyond
  auto log = dev.log();
  ASSERT_EQ(log.size(), 16u);
  for (uint32_t i = 0; i < 16; ++i) {
    EXPECT_EQ(log[i].access.addr, kBar + 0xff0 + 2 * i);
    EXPECT_EQ(log[i].value, 0x1234u);
    EXPECT_EQ(guest->mmio_read(dom, VcpuId{0}, kBar + 0xff0 + 2 * i, 2), 0x1234u);
  }
  dev.clear_log();
  r = guest->access(dom, VcpuId{0},
                    access(xensim::Space::mmio, false, kBar + 0x2018, 8, ~uint64_t{0} / 3, 4, false, true));
  ASSERT_EQ(r.status, xensim::AccessStatus::ok);
  EXPECT_EQ(r.ioreqs, 1u);
  log = dev.log();
  ASSERT_EQ(log.size(), 4u);
  for (uint32_t i = 0; i < 4; ++i) {
    EXPECT_EQ(log[i].access.addr, kBar + 0x2018 - 8 * i);
    EXPECT_EQ(log[i].value, ~uint64_t{0} / 3);
  }
  EXPECT_EQ(fe->stats().refused_total(), 0u);
  EXPECT_EQ(fe->stats().items.load(), 16u + 16u + 4u);  // 16 stored + 16 read back + 4
}

TEST_F(FrontendOnXensim, BufferedWritesIncludingEightByteOnesAndRingWrapAround) {
  create(1);
  start();
  // Three times the ring: the pointers wrap and Xen canonicalises them.
  constexpr unsigned kWrites = 3 * IOREQ_BUFFER_SLOT_NUM;
  unsigned buffered = 0;
  for (unsigned i = 0; i < kWrites; ++i) {
    const uint32_t size = (i % 4 == 0) ? 8 : 4;
    const uint64_t value = size == 8 ? (uint64_t{i} << 32 | 0xc0de0000u | i) : i;
    const auto r =
        guest->buffered_write(dom, VcpuId{0}, xensim::Space::mmio, kVgaFirst + 8 * (i % 64), size, value);
    ASSERT_TRUE(r.status == xensim::AccessStatus::buffered || r.status == xensim::AccessStatus::ok);
    buffered += r.status == xensim::AccessStatus::buffered ? 1 : 0;
  }
  EXPECT_GT(buffered, 0u);
  // A synchronous access afterwards: the loop drains the ring first, so all are applied.
  guest->mmio_read(dom, VcpuId{0}, kBar, 4);
  ASSERT_TRUE(eventually([&] { return dev.log().size() >= kWrites + 1; }));
  const auto log = dev.log();
  unsigned i = 0;
  for (const auto& a : log) {
    if (!a.write) continue;
    const uint32_t size = (i % 4 == 0) ? 8 : 4;
    const uint64_t value = size == 8 ? (uint64_t{i} << 32 | 0xc0de0000u | i) : i;
    ASSERT_EQ(a.access.addr, kVgaFirst + 8 * (i % 64)) << i;
    ASSERT_EQ(a.access.size, size) << i;
    ASSERT_EQ(a.value, value) << i;
    ++i;
  }
  EXPECT_EQ(i, kWrites);
  EXPECT_EQ(fe->stats().refused_total(), 0u);
}

TEST_F(FrontendOnXensim, TimeOffsetArrivesThroughTheBufferedRing) {
  create(1);
  start();
  EXPECT_EQ(guest->time_offset(dom, -3600), 1u);
  EXPECT_TRUE(eventually([&] { return fe->stats().time_offsets.load() == 1; }));
  EXPECT_EQ(fe->stats().last_time_offset.load(), -3600);
}

TEST_F(FrontendOnXensim, WithoutBufferedRingEverythingIsSynchronous) {
  create(1);
  auto o = options();
  o.buffered_ioreq = false;
  start(o);
  const auto r = guest->buffered_write(dom, VcpuId{0}, xensim::Space::mmio, kVgaFirst, 4, 7);
  EXPECT_EQ(r.status, xensim::AccessStatus::ok);
  EXPECT_EQ(guest->mmio_read(dom, VcpuId{0}, kVgaFirst, 4), 7u);
}

TEST_F(FrontendOnXensim, LegacyPagesWhenResourceMappingIsNotSupported) {
  create(2);
  xensim::process_failures().add("xenforeignmemory_map_resource", xensim::FailureRule{EOPNOTSUPP, 1, false});
  start();
  guest->mmio_write(dom, VcpuId{1}, kBar, 4, 42);
  EXPECT_EQ(guest->mmio_read(dom, VcpuId{0}, kBar, 4), 42u);
  EXPECT_EQ(guest->time_offset(dom, 5), 1u);
  EXPECT_TRUE(eventually([&] { return fe->stats().last_time_offset.load() == 5; }));
}

// Requests Xen would never send, written straight into idle vCPU slots of the shared page
// (what a compromised or buggy peer could leave there): each must be answered with Xen's
// default, counted, and the server must keep serving.
TEST_F(FrontendOnXensim, HostileRequestsInTheSharedPageAreAnsweredCountedAndSurvived) {
  create(8);
  start();
  auto* fmem = xenforeignmemory_open(nullptr, 0);
  ASSERT_NE(fmem, nullptr);
  void* addr = nullptr;
  auto* res = xenforeignmemory_map_resource(fmem, dom.value, XENMEM_resource_ioreq_server, fe->server_id(),
                                            XENMEM_resource_ioreq_server_frame_ioreq(0), 1, &addr,
                                            PROT_READ | PROT_WRITE, 0);
  ASSERT_NE(res, nullptr) << std::strerror(errno);
  auto* page = static_cast<shared_iopage_t*>(addr);

  struct Case {
    uint8_t type;
    uint64_t addr;
    uint32_t size;
    uint32_t count;
    bool ptr;
    bool df;
    uint64_t data;
    Refusal why;
  };
  const uint64_t cfg_other = uint64_t{6} << 35;
  const Case cases[] = {
      {9, kBar, 4, 1, false, false, 0, Refusal::BadType},
      {IOREQ_TYPE_COPY, kBar, 3, 1, false, false, 0, Refusal::BadSize},
      {IOREQ_TYPE_COPY, kBar, 0xffffffff, 1, false, false, 0, Refusal::BadSize},
      {IOREQ_TYPE_PIO, kPorts, 8, 1, false, false, 0, Refusal::BadSize},
      {IOREQ_TYPE_COPY, kBar, 4, 0, true, false, 0x1000, Refusal::BadCount},
      {IOREQ_TYPE_COPY, kBar, 4, 0xffffffff, true, false, 0x1000, Refusal::BadCount},
      {IOREQ_TYPE_COPY, kBar, 4, 7, false, false, 0, Refusal::BadCount},
      {IOREQ_TYPE_COPY, kBar + kBarSize - 2, 4, 1, false, false, 0, Refusal::Unclaimed},
      {IOREQ_TYPE_COPY, ~uint64_t{0} - 1, 4, 1, false, false, 0, Refusal::BadAddress},
      {IOREQ_TYPE_COPY, kBar, 4, 4, true, true, 8, Refusal::BadBuffer},
      {IOREQ_TYPE_PCI_CONFIG, cfg_other, 4, 1, false, false, 0, Refusal::Unclaimed},
      {IOREQ_TYPE_COPY, kBar, 4, 16, true, false, 0xfff0000000ull, Refusal::BadBuffer},  // not RAM
  };
  std::map<Refusal, uint64_t> expected;
  for (const auto& c : cases) {
    ++expected[c.why];
    // Use vCPUs 1..7, idle in the guest; vCPU 0's real access below wakes the server.
    ioreq_t& slot = page->vcpu_ioreq[1 + (&c - cases) % 7];
    slot.addr = c.addr;
    slot.data = c.data;
    slot.count = c.count;
    slot.size = c.size;
    slot.type = c.type;
    slot.data_is_ptr = c.ptr ? 1 : 0;
    slot.df = c.df ? 1 : 0;
    slot.dir = IOREQ_READ;
    // The state byte (offset 30: state:4, data_is_ptr, dir, df) is shared with the server
    // thread: atomic accesses, release publishing the request, acquire taking the answer.
    std::atomic_ref<uint8_t> state(reinterpret_cast<uint8_t*>(&slot)[30]);
    const uint8_t flags = state.load(std::memory_order_relaxed) & 0xf0;
    state.store(static_cast<uint8_t>(flags | STATE_IOREQ_READY), std::memory_order_release);
    guest->mmio_read(dom, VcpuId{0}, kBar, 4);
    ASSERT_TRUE(
        eventually([&] { return (state.load(std::memory_order_acquire) & 0xf) == STATE_IORESP_READY; }));
    EXPECT_EQ(slot.data, c.ptr ? c.data : ~uint64_t{0});
    EXPECT_EQ(fe->stats().refused_for(c.why), expected[c.why]) << to_string(c.why);
    state.store(static_cast<uint8_t>(flags | STATE_IOREQ_NONE),
                std::memory_order_release);  // Xen consumes it
  }
  EXPECT_EQ(fe->stats().refused_total(), std::size(cases));
  // Nothing reached the device but vCPU 0's genuine reads; the server still serves.
  for (const auto& a : dev.log()) EXPECT_EQ(a.access.vcpu, VcpuId{0});
  guest->mmio_write(dom, VcpuId{0}, kBar + 4, 4, 99);
  EXPECT_EQ(guest->mmio_read(dom, VcpuId{1}, kBar + 4, 4), 99u);
  xenforeignmemory_unmap_resource(fmem, res);
  xenforeignmemory_close(fmem);
}

TEST_F(FrontendOnXensim, InvalidateWhileADmaHoldsAMapping) {
  create(1, 16);
  start();
  auto* memory = fe->platform().memory;
  constexpr uint64_t kGpa = 0x40000;
  auto dma = memory->map(kGpa, 4096, true);
  std::memset(dma->bytes().data(), 0x11, 16);
  {
    std::vector<std::byte> seen(16);
    guest->read_ram(dom, kGpa, seen);
    EXPECT_EQ(seen[0], std::byte{0x11});
  }
  const auto status = guest->remove_memory(dom, VcpuId{0}, gfn_of(kGpa), 1);  // INVALIDATE, synchronously
  EXPECT_EQ(status, xensim::AccessStatus::ok);
  EXPECT_EQ(fe->stats().invalidates.load(), 1u);
  // The DMA in flight finishes on its (pinned) mapping without faulting.
  std::memset(dma->bytes().data(), 0x22, 4096);
  dma.reset();
  // The page is gone from the guest now: a new access is refused, neighbours still work.
  std::vector<std::byte> buf(8);
  EXPECT_THROW(memory->read(kGpa, buf), gpu::GuestMemoryError);
  EXPECT_NO_THROW(memory->read(kGpa + 4096, buf));
  EXPECT_EQ(guest->mmio_read(dom, VcpuId{0}, kBar, 4), RegisterFile::pattern(kBar, 4));
}

TEST_F(FrontendOnXensim, DeviceWritesAreReportedToTheDirtyLog) {
  create(1);
  start();
  guest->set_log_dirty(dom, true);
  std::vector<std::byte> data(6000, std::byte{0x5a});
  fe->platform().memory->write(0x7f00, data);  // pages 7, 8, 9
  const auto pages = guest->modified_pages(dom);
  for (uint64_t p : {7, 8, 9}) EXPECT_NE(std::find(pages.begin(), pages.end(), p), pages.end()) << p;
}

TEST_F(FrontendOnXensim, InterruptsReachTheGuest) {
  create(1);
  start();
  fe->platform().interrupts->inject_msi(0xfee00000, 0x4041);
  ASSERT_TRUE(guest->wait_msis(dom, 1, 1000ms));
  const auto msis = guest->msis(dom);
  ASSERT_EQ(msis.size(), 1u);
  EXPECT_EQ(msis[0].addr, 0xfee00000u);
  EXPECT_EQ(msis[0].data, 0x4041u);
  fe->platform().interrupts->set_intx_level(kDev, 0, true);
  EXPECT_EQ(guest->intx_level(dom, kDev, 0), 1u);
  fe->platform().interrupts->set_intx_level(kDev, 0, false);
  EXPECT_EQ(guest->intx_level(dom, kDev, 0), 0u);
}

TEST_F(FrontendOnXensim, PciAddressPortIsEmulatedWhenAskedSoAType1ProbeSucceeds) {
  create(1);
  auto o = options();
  o.emulate_pci_cf8 = true;
  start(o);
  const VcpuId v0{0};
  // Linux's type-1 probe (pci_check_type1): save, write the enable bit, read it back.
  EXPECT_EQ(guest->pio_read(dom, v0, 0xcf8, 4), 0u);  // Xen's latch starts at 0
  guest->pio_write(dom, v0, 0xcfb, 1, 0x01);          // narrow writes do not latch
  guest->pio_write(dom, v0, 0xcf8, 4, 0x80000000);
  EXPECT_EQ(guest->pio_read(dom, v0, 0xcf8, 4), 0x80000000u);
  EXPECT_EQ(guest->pio_read(dom, v0, 0xcf8, 2), 0xffffu);
  EXPECT_EQ(guest->pio_read(dom, v0, 0xcfa, 1), 0xffu);
  guest->pio_write(dom, v0, 0xcf8, 2, 0x1234);
  EXPECT_EQ(guest->pio_read(dom, v0, 0xcf8, 4), 0x80000000u);

  // A config read through CFC then reaches the vGPU as PCI_CONFIG.
  const uint32_t cf8 = 0x80000000u | (uint32_t{kDev.bdf()} << 8) | 0x3c;
  guest->pio_write(dom, v0, 0xcf8, 4, cf8);
  EXPECT_EQ(guest->pio_read(dom, v0, 0xcf8, 4), cf8);
  guest->pio_write(dom, v0, 0xcfc, 1, 0x0b);
  EXPECT_EQ(guest->pio_read(dom, v0, 0xcfc, 1), 0x0bu);

  bool saw_config = false;
  for (const auto& a : dev.log()) {
    EXPECT_NE(a.access.space, AddressSpace::Port) << "0xcf8-0xcfb never reaches the core";
    if (a.access.space == AddressSpace::PciConfig && a.access.addr == 0x3c && a.access.sbdf == kDev) {
      saw_config = true;
    }
  }
  EXPECT_TRUE(saw_config);
  EXPECT_EQ(fe->stats().refused_total(), 0u);
}

TEST_F(FrontendOnXensim, PciAddressPortReadsAllOnesWhenNotEmulated) {
  create(1);
  start();
  const VcpuId v0{0};
  guest->pio_write(dom, v0, 0xcf8, 4, 0x80000000);
  EXPECT_EQ(guest->pio_read(dom, v0, 0xcf8, 4), 0xffffffffu);
  // Xen still latched the write: config cycles through CFC keep working.
  EXPECT_EQ(guest->pci_cfg_read(dom, v0, kDev, 0x3c, 1), RegisterFile::pattern(0x3c, 1));
  for (const auto& a : dev.log()) {
    EXPECT_NE(a.access.space, AddressSpace::Port);
  }
}

TEST_F(FrontendOnXensim, DynamicClaimsFollowBarMoves) {
  create(1);
  start();
  auto* claims = fe->platform().claims;
  constexpr uint64_t kNew = 0xe0000000;
  // Claims change on the loop thread, as the core does while handling a BAR write.
  std::promise<void> done;
  fe->post([&] {
    claims->release_range(IoSpace::Mmio, kBar, kBar + kBarSize - 1);
    claims->claim_range(IoSpace::Mmio, kNew, kNew + kBarSize - 1);
    done.set_value();
  });
  done.get_future().get();
  EXPECT_EQ(guest->mmio_read(dom, VcpuId{0}, kBar, 4), 0xffffffffu);  // no longer ours: Xen's default
  guest->mmio_write(dom, VcpuId{0}, kNew + 8, 4, 5);
  EXPECT_EQ(guest->mmio_read(dom, VcpuId{0}, kNew + 8, 4), 5u);
  EXPECT_THROW(claims->claim_range(IoSpace::Mmio, kNew + 0x100, kNew + 0x200), Error);  // overlap
  EXPECT_THROW(claims->release_range(IoSpace::Port, 1, 2), Error);
  EXPECT_THROW(claims->claim_range(IoSpace::Mmio, 10, 5), Error);
}

TEST_F(FrontendOnXensim, EightVcpusConcurrently) {
  create(8);
  start();
  constexpr int kPerVcpu = 400;
  std::vector<std::thread> vcpus;
  std::atomic<int> wrong{0};
  for (uint32_t v = 0; v < 8; ++v) {
    vcpus.emplace_back([&, v] {
      for (int i = 0; i < kPerVcpu; ++i) {
        const uint64_t reg = kBar + 0x1000 + 8 * v;
        const uint64_t value = (uint64_t{v} << 32) | static_cast<uint32_t>(i);
        guest->mmio_write(dom, VcpuId{v}, reg, 8, value);
        if (guest->mmio_read(dom, VcpuId{v}, reg, 8) != value) wrong.fetch_add(1);
        if (i % 50 == 0 && guest->pci_cfg_read(dom, VcpuId{v}, kDev, 0, 4) != RegisterFile::pattern(0, 4))
          wrong.fetch_add(1);
      }
    });
  }
  for (auto& t : vcpus) t.join();
  EXPECT_EQ(wrong.load(), 0);
  EXPECT_EQ(fe->stats().refused_total(), 0u);
  EXPECT_TRUE(guest->status(dom).hung.empty());
}

// The wake-up economy of ioreq_loop.h: every notification Xen sends costs the loop exactly one
// wake-up (one port taken per epoll_wait; none redelivered, no wake-up without a port), so a
// guest doing one access at a time costs one wake-up per request.
TEST_F(FrontendOnXensim, EachSequentialRequestTakesExactlyOneWakeUp) {
  create(1);
  start();
  // Until no wake-up is under way: the ports Xen sets pending when they are bound may still be
  // queued behind the first answers.
  const auto settled = [&] {
    uint64_t last = fe->stats().wakeups.load();
    for (int i = 0; i < 100; ++i) {
      std::this_thread::sleep_for(20ms);
      const uint64_t now = fe->stats().wakeups.load();
      if (now == last) return now;
      last = now;
    }
    return last;
  };
  ASSERT_EQ(guest->mmio_read(dom, VcpuId{0}, kBar, 4), RegisterFile::pattern(kBar, 4));
  const uint64_t wakeups = settled();
  const uint64_t requests = fe->stats().requests.load();
  constexpr uint64_t kReads = 200;
  for (uint64_t i = 0; i < kReads; ++i) {
    const uint64_t reg = kBar + 8 * (i % 16);
    ASSERT_EQ(guest->mmio_read(dom, VcpuId{0}, reg, 8), RegisterFile::pattern(reg, 8));
  }
  EXPECT_EQ(fe->stats().requests.load() - requests, kReads);
  EXPECT_EQ(settled() - wakeups, kReads);
  EXPECT_EQ(fe->stats().empty_wakeups.load(), 0u);
  EXPECT_EQ(fe->stats().hypervisor_errors.load(), 0u);
}

// A wake-up that finds no port (xenevtchn_pending answers EAGAIN or EINTR: a spurious wake-up,
// a signal) is not an error and loses nothing: the port still queued wakes the loop again and
// the request is answered.
TEST_F(FrontendOnXensim, SpuriousWakeUpLosesNoRequest) {
  create(2);
  start();
  ASSERT_EQ(guest->mmio_read(dom, VcpuId{0}, kBar, 4), RegisterFile::pattern(kBar, 4));
  for (const int err : {EAGAIN, EINTR}) {
    const uint64_t empty = fe->stats().empty_wakeups.load();
    xensim::process_failures().add("xenevtchn_pending", xensim::FailureRule{err, 1, false});
    guest->mmio_write(dom, VcpuId{1}, kBar + 0x40, 4, 0x1234u + static_cast<uint32_t>(err));
    EXPECT_EQ(guest->mmio_read(dom, VcpuId{0}, kBar + 0x40, 4), 0x1234u + static_cast<uint32_t>(err));
    EXPECT_EQ(fe->stats().empty_wakeups.load() - empty, 1u) << std::strerror(err);
    xensim::process_failures().clear();
  }
  EXPECT_EQ(stopped.wait_for(0ms), std::future_status::timeout) << "the loop stopped";
  EXPECT_EQ(fe->stats().hypervisor_errors.load(), 0u);
  EXPECT_TRUE(guest->status(dom).hung.empty());
}

// A device that blocks on one register until released (to catch the server mid-request).
class BlockingDevice : public RegisterFile {
 public:
  uint64_t read(const gpu::IoAccess& a) noexcept override {
    if (a.addr == kBar + 0x800) {
      std::unique_lock lock(mu);
      entered = true;
      cv.notify_all();
      cv.wait(lock, [&] { return released; });
    }
    return RegisterFile::read(a);
  }
  std::mutex mu;
  std::condition_variable cv;
  bool entered = false;
  bool released = false;
};

TEST_F(FrontendOnXensim, DomainDestroyedMidRequestStopsTheLoopCleanly) {
  create(2);
  BlockingDevice blocking;
  start(options(), &blocking);
  auto vcpu = std::async(std::launch::async, [&] {
    return guest->access(dom, VcpuId{0}, access(xensim::Space::mmio, true, kBar + 0x800, 4));
  });
  {
    std::unique_lock lock(blocking.mu);
    ASSERT_TRUE(blocking.cv.wait_for(lock, 2s, [&] { return blocking.entered; }));
  }
  guest->destroy_domain(dom);
  const auto t0 = std::chrono::steady_clock::now();
  {
    std::lock_guard lock(blocking.mu);
    blocking.released = true;
  }
  blocking.cv.notify_all();
  ASSERT_EQ(stopped.wait_for(1500ms), std::future_status::ready);
  EXPECT_EQ(stopped.get(), StopReason::DomainGone);
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 1s);
  const auto r = vcpu.get();
  EXPECT_NE(r.status, xensim::AccessStatus::ok);
  fe.reset();  // teardown against a dead domain: no throw, nothing left behind
}

TEST_F(FrontendOnXensim, DomainDestroyedWhileIdleIsNoticedWithinASecond) {
  create(1);
  start();
  guest->mmio_read(dom, VcpuId{0}, kBar, 4);
  const auto t0 = std::chrono::steady_clock::now();
  guest->destroy_domain(dom);
  ASSERT_EQ(stopped.wait_for(1s), std::future_status::ready);
  EXPECT_EQ(stopped.get(), StopReason::DomainGone);
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 1s);
}

TEST_F(FrontendOnXensim, EventChannelFailureWhileTheDomainLivesStopsWithError) {
  create(1);
  start();
  EXPECT_EQ(guest->mmio_read(dom, VcpuId{0}, kBar, 4), RegisterFile::pattern(kBar, 4));
  xensim::process_failures().add("xenevtchn_pending", xensim::FailureRule{EIO, 1, true});
  guest->set_hang_timeout(200ms);
  auto vcpu = std::async(std::launch::async, [&] {
    return guest->access(dom, VcpuId{0}, access(xensim::Space::mmio, true, kBar, 4));
  });
  ASSERT_EQ(stopped.wait_for(2s), std::future_status::ready);
  EXPECT_EQ(stopped.get(), StopReason::Error);
  fe.reset();
  guest->destroy_domain(dom);  // releases the vCPU nobody serves any more
  try {
    vcpu.get();  // answered "destroyed", or refused if it only got going after the destruction
  } catch (const SystemError& e) {
    EXPECT_EQ(e.err(), ESRCH);
  }
}

TEST_F(FrontendOnXensim, PostRunsOnTheLoopThreadAndStopReturnsStopRequested) {
  create(1);
  start();
  std::promise<std::thread::id> where;
  fe->post([&] { where.set_value(std::this_thread::get_id()); });
  EXPECT_NE(where.get_future().get(), std::this_thread::get_id());
  fe->post([] { throw Error("a failing control operation"); });  // logged, loop survives
  EXPECT_EQ(guest->mmio_read(dom, VcpuId{0}, kBar, 4), RegisterFile::pattern(kBar, 4));
  fe->request_stop();
  EXPECT_EQ(stopped.get(), StopReason::StopRequested);
}

TEST_F(FrontendOnXensim, SigtermStopsTheLoop) {
  create(1);
  auto o = options();
  o.handle_signals = true;  // blocks SIGTERM in this thread; the loop thread inherits it
  fe = std::make_unique<Frontend>(dom, o);
  stopped = std::async(std::launch::async, [this] { return fe->run(dev); });
  guest->unpause(dom);
  ::kill(::getpid(), SIGTERM);
  ASSERT_EQ(stopped.wait_for(2s), std::future_status::ready);
  EXPECT_EQ(stopped.get(), StopReason::Signal);
}

TEST_F(FrontendOnXensim, DirectMemoryIsPlacedMovedAndTracked) {
  create(1, 16);
  auto o = options();
  o.direct_memory_bytes = 4 << 20;
  o.direct_memory_scratch_gfn = 0x100000;
  start(o);
  auto* direct = fe->platform().direct_memory;
  ASSERT_NE(direct, nullptr);
  auto region = direct->allocate(1 << 20);
  EXPECT_THROW(direct->allocate(4 << 20), Error);  // beyond what is left of the budget
  EXPECT_THROW(direct->allocate(100), Error);
  std::memset(region->host().data(), 0x3c, 4096);
  region->place(0xd0000000);
  std::vector<std::byte> seen(4);
  guest->read_ram(dom, 0xd0000000, seen);
  EXPECT_EQ(seen[0], std::byte{0x3c});
  // Guest writes show up in host() and in the dirty bitmap.
  std::vector<std::byte> w(4, std::byte{0x7e});
  std::vector<uint64_t> bitmap;
  region->collect_dirty(bitmap);  // starts tracking
  guest->write_ram(dom, 0xd0000000 + 5 * 4096, w);
  EXPECT_EQ(region->host()[5 * 4096], std::byte{0x7e});
  region->collect_dirty(bitmap);
  ASSERT_EQ(bitmap.size(), 4u);
  EXPECT_TRUE(bitmap[0] & (uint64_t{1} << 5));
  // Move the BAR: the same bytes appear at the new place, the old place is empty.
  region->place(0xd8000000);
  guest->read_ram(dom, 0xd8000000 + 5 * 4096, seen);
  EXPECT_EQ(seen[0], std::byte{0x7e});
  EXPECT_THROW(guest->read_ram(dom, 0xd0000000, seen), std::exception);
  region->unplace();
  EXPECT_THROW(guest->read_ram(dom, 0xd8000000, seen), std::exception);
  region.reset();
  EXPECT_NO_THROW(direct->allocate(4 << 20));  // the whole budget is free again
}

// Live migration: what the device model writes into VRAM, and VRAM that moved, must reach the
// dirty log at the frames where the pages are now, including the pool's last page.
TEST_F(FrontendOnXensim, DirectMemoryWritesAndMovesReachTheDirtyLog) {
  create(1, 16);
  auto o = options();
  o.direct_memory_bytes = 4 << 20;
  o.direct_memory_scratch_gfn = 0x100000;
  start(o);
  guest->set_log_dirty(dom, true);
  auto region = fe->platform().direct_memory->allocate(4 << 20);  // the whole pool
  EXPECT_TRUE(fe->platform().direct_memory->saved_with_guest_memory());
  const auto modified = [&] {
    const auto v = guest->modified_pages(dom);
    return std::set<uint64_t>(v.begin(), v.end());
  };
  const uint64_t last = 1023;
  region->device_wrote(last * 4096 + 100, 8);  // not placed: at its scratch frame
  region->device_wrote(2 * 4096 - 1, 2);       // straddles pages 1 and 2
  EXPECT_EQ(modified(), (std::set<uint64_t>{0x100000 + 1, 0x100000 + 2, 0x100000 + last}));
  region->place(0xd0000000);  // the moved frames are reported where they are now
  auto m = modified();
  EXPECT_TRUE(m.contains(0xd0000) && m.contains(0xd0000 + last)) << m.size();
  EXPECT_EQ(m.size(), 3u + 1024u);
  region->device_wrote(5 * 4096, 4096);
  EXPECT_TRUE(modified().contains(0xd0000 + 5));
  EXPECT_EQ(fe->stats().hypervisor_errors.load(), 0u);
}

TEST_F(FrontendOnXensim, HandlesAreRestrictedToTheServedDomain) {
  create(1);
  xensim::DomainConfig cfg;
  const Domid other = guest->create_domain(cfg);
  ASSERT_NE(other, dom);
  start();  // set-up probes each handle against another domain and insists on EPERM
  // Serving still works after restriction.
  guest->mmio_write(dom, VcpuId{0}, kBar, 4, 1);
  EXPECT_EQ(guest->mmio_read(dom, VcpuId{0}, kBar, 4), 1u);
  // A frontend for the other domain sets up fine with its own handles.
  Frontend second(other, options());
  EXPECT_EQ(second.domid(), other);
}

// Each Xen call of set-up fails in turn: a clear error naming it, and nothing left behind
// (the same domain can be served right after; LSan checks the memory side).
struct FailingCall {
  const char* name;
  uint64_t nth;  // which use of it fails
};
class SetupFailure : public FrontendOnXensim, public ::testing::WithParamInterface<FailingCall> {};

TEST_P(SetupFailure, ReportsTheCallAndLeaksNothing) {
  create(2);
  const std::string call = GetParam().name;
  xensim::process_failures().add(call, xensim::FailureRule{EIO, GetParam().nth, false});
  auto o = options();
  o.direct_memory_bytes = 1 << 20;
  o.direct_memory_scratch_gfn = 0x100000;
  try {
    Frontend broken(dom, o);
    FAIL() << "set-up succeeded although " << call << " failed";
  } catch (const SystemError& e) {
    EXPECT_NE(std::string(e.what()).find(call), std::string::npos) << e.what();
    EXPECT_EQ(e.err(), EIO);
  }
  xensim::process_failures().clear();
  const auto info = guest->status(dom).info;
  // The domain did not keep the direct memory of the failed attempt.
  start(o);
  EXPECT_EQ(guest->mmio_read(dom, VcpuId{1}, kBar, 4), RegisterFile::pattern(kBar, 4));
  EXPECT_EQ(guest->status(dom).info.max_pages, info.max_pages + 256 + 1);  // 1 MiB and the guard frame
  // A server left enabled by the failed attempt would never answer the INVALIDATE broadcast.
  guest->set_hang_timeout(300ms);
  EXPECT_EQ(guest->remove_memory(dom, VcpuId{0}, Gfn{0x800}, 1), xensim::AccessStatus::ok);
  EXPECT_TRUE(guest->status(dom).hung.empty());
}

INSTANTIATE_TEST_SUITE_P(
    EveryCall, SetupFailure,
    ::testing::Values(
        FailingCall{"xendevicemodel_open", 1}, FailingCall{"xenforeignmemory_open", 1},
        FailingCall{"xenevtchn_open", 1}, FailingCall{"xendevicemodel_nr_vcpus", 1},
        FailingCall{"xc_interface_open", 1}, FailingCall{"xc_domain_getinfolist", 1},
        FailingCall{"xc_domain_setmaxmem", 1}, FailingCall{"xc_domain_populate_physmap_exact", 1},
        FailingCall{"xenforeignmemory_map", 1}, FailingCall{"xendevicemodel_create_ioreq_server", 1},
        FailingCall{"xenforeignmemory_map_resource", 1},
        FailingCall{"xendevicemodel_get_ioreq_server_info", 1},
        FailingCall{"xendevicemodel_set_ioreq_server_state", 1}, FailingCall{"xenevtchn_bind_interdomain", 1},
        FailingCall{"xenevtchn_bind_interdomain", 3}, FailingCall{"xendevicemodel_restrict", 1},
        FailingCall{"xenforeignmemory_restrict", 1}, FailingCall{"xenevtchn_restrict", 1}),
    [](const auto& p) { return std::string(p.param.name) + "_" + std::to_string(p.param.nth); });

}  // namespace
}  // namespace xvgpu::ioreq
