// Xen's wait-for-io rules and their enforcement: states only move forward, an invalid state
// crashes the domain, NONE completes with all ones, no completion without an event, hung
// vCPU reports, several vCPUs blocked at once, pause and destroy.
#include <thread>

#include "fixture.h"

namespace {

using xensim::AccessStatus;
using xvgpu::VcpuId;

TEST_F(XensimTest, BackwardsStateMoveCrashesTheDomain) {
  RawDm dm(d());
  dm.start();
  dm.claim_mmio(kBar, kBar + 0xfff);
  auto f = async(mmio(IOREQ_READ, kBar));
  ASSERT_TRUE(dm.wait_request(0));
  RawDm::set_state(&dm.page[0], STATE_IOREQ_INPROCESS);
  xenevtchn_notify(dm.xce, dm.ports[0]);
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  RawDm::set_state(&dm.page[0], STATE_IOREQ_READY);  // backwards
  xenevtchn_notify(dm.xce, dm.ports[0]);
  EXPECT_EQ(f.get().status, AccessStatus::crashed);
  const auto st = guest.status(dom);
  EXPECT_EQ(st.info.state, xensim::DomainState::crashed);
  EXPECT_NE(st.crash_reason.find("transition"), std::string::npos) << st.crash_reason;
  // Death detection through libxenctrl.
  auto* xch = xc_interface_open(nullptr, nullptr, 0);
  xc_dominfo_t info{};
  ASSERT_EQ(xc_domain_getinfo(xch, d(), 1, &info), 1);
  EXPECT_EQ(info.domid, d());
  EXPECT_EQ(info.crashed, 1u);
  EXPECT_EQ(info.shutdown, 1u);
  EXPECT_EQ(info.shutdown_reason, unsigned{SHUTDOWN_crash});
  xc_interface_close(xch);
  // A crashed domain's vCPUs run nothing more.
  EXPECT_EQ(guest.access(dom, VcpuId{1}, mmio(IOREQ_READ, kBar)).status, AccessStatus::crashed);
}

TEST_F(XensimTest, InvalidStateCrashesTheDomain) {
  RawDm dm(d());
  dm.start();
  dm.claim_mmio(kBar, kBar + 0xfff);
  auto f = async(mmio(IOREQ_READ, kBar));
  ASSERT_TRUE(dm.wait_request(0));
  RawDm::set_state(&dm.page[0], 9);
  xenevtchn_notify(dm.xce, dm.ports[0]);
  EXPECT_EQ(f.get().status, AccessStatus::crashed);
  EXPECT_NE(guest.status(dom).crash_reason.find("state 9"), std::string::npos);
}

TEST_F(XensimTest, StateNoneCompletesWithAllOnes) {
  RawDm dm(d());
  dm.start();
  dm.claim_mmio(kBar, kBar + 0xfff);
  auto f = async(mmio(IOREQ_READ, kBar, 2));
  ASSERT_TRUE(dm.wait_request(0));
  dm.page[0].data = 0x1111;
  RawDm::set_state(&dm.page[0], STATE_IOREQ_NONE);
  xenevtchn_notify(dm.xce, dm.ports[0]);
  const auto r = f.get();
  EXPECT_EQ(r.status, AccessStatus::ok);
  EXPECT_EQ(r.data, 0xffffu);
  EXPECT_EQ(guest.status(dom).info.state, xensim::DomainState::running);
}

TEST_F(XensimTest, ResponseWithoutNotifyLeavesTheVcpuHungUntilTheEvent) {
  RawDm dm(d());
  dm.start();
  dm.claim_mmio(kBar, kBar + 0xfff);
  auto f = async(mmio(IOREQ_READ, kBar + 0x40, 4), 1);
  ASSERT_TRUE(dm.wait_request(1));
  dm.respond(1, 77, /*notify=*/false);
  EXPECT_EQ(f.wait_for(std::chrono::milliseconds(400)), std::future_status::timeout);
  auto st = guest.status(dom);
  ASSERT_EQ(st.hung.size(), 1u);
  EXPECT_EQ(st.hung[0].vcpu, 1u);
  EXPECT_EQ(st.hung[0].addr, kBar + 0x40);
  EXPECT_EQ(st.hung_reports, 1u);
  xenevtchn_notify(dm.xce, dm.ports[1]);
  EXPECT_EQ(f.get().data, 77u);
  EXPECT_TRUE(guest.status(dom).hung.empty());
}

TEST_F(XensimTest, UnansweredIoreqIsReportedHungAndDestroyReleasesTheVcpu) {
  RawDm dm(d());
  dm.start();
  dm.claim_port(0x500, 0x503);
  auto f = async(pio(IOREQ_WRITE, 0x500, 4, 1));
  ASSERT_TRUE(dm.wait_request(0));
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  const auto st = guest.status(dom);
  ASSERT_EQ(st.hung.size(), 1u);
  EXPECT_EQ(st.hung[0].type, IOREQ_TYPE_PIO);
  guest.destroy_domain(dom);
  EXPECT_EQ(f.get().status, AccessStatus::destroyed);
}

TEST_F(XensimTest, DestroyingTheServerCompletesAPendingAccessWithAllOnes) {
  RawDm dm(d());
  dm.start();
  dm.claim_mmio(kBar, kBar + 0xfff);
  auto f = async(mmio(IOREQ_READ, kBar));
  ASSERT_TRUE(dm.wait_request(0));
  ASSERT_EQ(xendevicemodel_destroy_ioreq_server(dm.dmod, d(), dm.id), 0);
  const auto r = f.get();
  EXPECT_EQ(r.data, 0xffffffffu);
  EXPECT_EQ(guest.status(dom).info.state, xensim::DomainState::running);
}

TEST_F(XensimTest, SlotNotIdleWhenXenSendsCrashesTheDomain) {
  RawDm dm(d());
  dm.start();
  dm.claim_mmio(kBar, kBar + 0xfff);
  RawDm::set_state(&dm.page[0], STATE_IORESP_READY);  // DM scribbles on an idle slot
  EXPECT_EQ(guest.access(dom, VcpuId{0}, mmio(IOREQ_READ, kBar)).status, AccessStatus::crashed);
  EXPECT_NE(guest.status(dom).crash_reason.find("bad IO state"), std::string::npos);
}

TEST_F(XensimTest, SeveralVcpusBlockConcurrently) {
  RawDm dm(d());
  dm.start();
  dm.claim_mmio(kBar, kBar + 0xfff);
  auto f0 = async(mmio(IOREQ_READ, kBar + 0), 0);
  auto f1 = async(mmio(IOREQ_READ, kBar + 4), 1);
  ASSERT_TRUE(dm.wait_request(0));
  ASSERT_TRUE(dm.wait_request(1));  // both outstanding at once
  dm.respond(1, 11);
  EXPECT_EQ(f1.get().data, 11u);
  EXPECT_EQ(f0.wait_for(std::chrono::milliseconds(50)), std::future_status::timeout);
  dm.respond(0, 10);
  EXPECT_EQ(f0.get().data, 10u);
}

TEST_F(XensimTest, PausedDomainRunsAccessesOnlyAfterUnpause) {
  RawDm dm(d());
  dm.start();
  dm.claim_mmio(kBar, kBar + 0xfff);
  guest.pause(dom);
  EXPECT_EQ(guest.status(dom).info.state, xensim::DomainState::paused);
  auto f = async(mmio(IOREQ_READ, kBar));
  EXPECT_FALSE(dm.wait_request(0, 100));
  guest.unpause(dom);
  ASSERT_TRUE(dm.serve_one(0, [](const ioreq_t&) { return 5; }));
  EXPECT_EQ(f.get().data, 5u);
}

TEST_F(XensimTest, DeviceModelShutdownCrashMarksDomainCrashed) {
  RawDm dm(d());
  ASSERT_EQ(xendevicemodel_shutdown(dm.dmod, d(), SHUTDOWN_crash), 0);
  EXPECT_EQ(guest.status(dom).info.state, xensim::DomainState::crashed);
}

}  // namespace
