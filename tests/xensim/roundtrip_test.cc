// In-process round trip: a Host, an echo ioreq server (Xen C API only) in a thread, and
// guest accesses through xensim::Guest.
#include <gtest/gtest.h>

#include <thread>

#include "echo_server.h"
#include "xensim/guest.h"
#include "xensim/host.h"
#include "xensim/xen_headers.h"

namespace {

using xvgpu::Domid;
using xvgpu::VcpuId;

TEST(XensimRoundTrip, MmioAccessAnsweredByEchoServer) {
  xensim::Host host;
  xensim::Guest guest(host);
  const Domid dom = guest.create_domain({.vcpus = 2, .ram_mib = 16, .start_paused = true});

  echo::Options opt;
  opt.domid = dom.value;
  opt.bufioreq = HVM_IOREQSRV_BUFIOREQ_ATOMIC;
  std::atomic<bool> stop{false}, ready{false};
  echo::Stats stats;
  std::string error;
  std::thread dm([&] { echo::run(opt, &stop, &ready, &stats, &error); });
  while (!ready && error.empty()) std::this_thread::yield();
  ASSERT_TRUE(error.empty()) << error;
  guest.unpause(dom);

  EXPECT_EQ(guest.mmio_read(dom, VcpuId{0}, echo::kMmioFirst + 8, 4),
            echo::echo_default(IOREQ_TYPE_COPY, echo::kMmioFirst + 8, 4));
  guest.mmio_write(dom, VcpuId{1}, echo::kMmioFirst + 16, 8, 0x1122334455667788ull);
  EXPECT_EQ(guest.mmio_read(dom, VcpuId{0}, echo::kMmioFirst + 16, 8), 0x1122334455667788ull);
  EXPECT_EQ(stats.ioreqs.load(), 3u);

  stop = true;
  dm.join();
}

}  // namespace
