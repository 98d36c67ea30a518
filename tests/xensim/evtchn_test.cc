// Event channels as the Linux evtchn driver presents them: a pollable fd, pending ports
// masked until unmasked (and redelivered if they fired meanwhile), interdomain binding
// rules, unbinding.
#include <poll.h>

#include "fixture.h"

namespace {

bool readable(xenevtchn_handle* h, int ms) {
  pollfd p{xenevtchn_fd(h), POLLIN, 0};
  return ::poll(&p, 1, ms) == 1;
}

TEST_F(XensimTest, LoopbackPortsDeliverMaskAndRedeliverOnUnmask) {
  auto* a = xenevtchn_open(nullptr, 0);
  auto* b = xenevtchn_open(nullptr, 0);
  const int pa = xenevtchn_bind_unbound_port(a, 0);
  ASSERT_GT(pa, 0);
  const int pb = xenevtchn_bind_interdomain(b, 0, static_cast<evtchn_port_t>(pa));
  ASSERT_GT(pb, 0);
  ASSERT_TRUE(readable(b, 100));  // binding sets the new port pending once
  EXPECT_EQ(xenevtchn_pending(b), pb);
  ASSERT_EQ(xenevtchn_unmask(b, static_cast<evtchn_port_t>(pb)), 0);
  EXPECT_FALSE(readable(b, 0));

  ASSERT_EQ(xenevtchn_notify(a, static_cast<evtchn_port_t>(pa)), 0);
  ASSERT_TRUE(readable(b, 100));
  EXPECT_EQ(xenevtchn_pending(b), pb);
  // Masked now: further notifies are remembered, not queued...
  ASSERT_EQ(xenevtchn_notify(a, static_cast<evtchn_port_t>(pa)), 0);
  ASSERT_EQ(xenevtchn_notify(a, static_cast<evtchn_port_t>(pa)), 0);
  EXPECT_FALSE(readable(b, 20));
  // ...and delivered once on unmask.
  ASSERT_EQ(xenevtchn_unmask(b, static_cast<evtchn_port_t>(pb)), 0);
  ASSERT_TRUE(readable(b, 100));
  EXPECT_EQ(xenevtchn_pending(b), pb);
  ASSERT_EQ(xenevtchn_unmask(b, static_cast<evtchn_port_t>(pb)), 0);
  EXPECT_FALSE(readable(b, 20));
  // The other direction works too.
  ASSERT_EQ(xenevtchn_notify(b, static_cast<evtchn_port_t>(pb)), 0);
  ASSERT_TRUE(readable(a, 100));
  EXPECT_EQ(xenevtchn_pending(a), pa);
  xenevtchn_close(a);
  xenevtchn_close(b);
}

TEST_F(XensimTest, InterdomainBindingRules) {
  RawDm dm(d());
  dm.start();
  auto* x = xenevtchn_open(nullptr, 0);
  // Already bound by dm: EINVAL. Nonexistent port: EINVAL. Nonexistent domain: ESRCH.
  EXPECT_EQ(xenevtchn_bind_interdomain(x, d(), dm.page[0].vp_eport), -1);
  EXPECT_EQ(errno, EINVAL);
  EXPECT_EQ(xenevtchn_bind_interdomain(x, d(), 999), -1);
  EXPECT_EQ(errno, EINVAL);
  EXPECT_EQ(xenevtchn_bind_interdomain(x, 777, 1), -1);
  EXPECT_EQ(errno, ESRCH);
  // Ports of another handle cannot be notified or unbound from this one.
  EXPECT_EQ(xenevtchn_notify(x, dm.ports[0]), -1);
  EXPECT_EQ(errno, ENOTCONN);
  EXPECT_EQ(xenevtchn_unbind(x, dm.ports[0]), -1);
  // After dm unbinds, the guest port is free to bind again.
  ASSERT_EQ(xenevtchn_unbind(dm.xce, dm.ports[0]), 0);
  EXPECT_EQ(xenevtchn_notify(dm.xce, dm.ports[0]), -1);
  EXPECT_GT(xenevtchn_bind_interdomain(x, d(), dm.page[0].vp_eport), 0);
  EXPECT_GT(xenevtchn_bind_virq(x, 3), 0);
  xenevtchn_close(x);
}

TEST_F(XensimTest, ClosingAHandleReleasesItsPorts) {
  RawDm dm(d());
  dm.start();
  auto* x = xenevtchn_open(nullptr, 0);
  ASSERT_EQ(xenevtchn_unbind(dm.xce, dm.ports[1]), 0);
  ASSERT_GT(xenevtchn_bind_interdomain(x, d(), dm.page[1].vp_eport), 0);
  xenevtchn_close(x);  // as when a device model process dies
  auto* y = xenevtchn_open(nullptr, 0);
  EXPECT_GT(xenevtchn_bind_interdomain(y, d(), dm.page[1].vp_eport), 0);
  xenevtchn_close(y);
}

}  // namespace
