// Enforcement of handle restriction (per handle and xentoolcore_restrict_all) and failure
// injection (process-local XENSIM_FAIL rules and host-wide rules).
#include "fixture.h"
#include "xensim/failure_injector.h"

namespace {

TEST_F(XensimTest, RestrictedHandlesGetEpermForOtherDomains) {
  const auto other = guest.create_domain({.vcpus = 1, .ram_mib = 4, .start_paused = true});
  auto* dmod = xendevicemodel_open(nullptr, 0);
  auto* fmem = xenforeignmemory_open(nullptr, 0);
  auto* xce = xenevtchn_open(nullptr, 0);
  ASSERT_EQ(xendevicemodel_restrict(dmod, d()), 0);
  ASSERT_EQ(xenforeignmemory_restrict(fmem, d()), 0);
  ASSERT_EQ(xenevtchn_restrict(xce, d()), 0);
  unsigned n = 0;
  EXPECT_EQ(xendevicemodel_nr_vcpus(dmod, d(), &n), 0);
  EXPECT_EQ(xendevicemodel_nr_vcpus(dmod, other.value, &n), -1);
  EXPECT_EQ(errno, EPERM);
  EXPECT_EQ(xendevicemodel_inject_msi(dmod, other.value, 0xfee00000, 0), -1);
  EXPECT_EQ(errno, EPERM);
  xen_pfn_t gfn = 1;
  int err = 0;
  EXPECT_EQ(xenforeignmemory_map(fmem, other.value, PROT_READ, 1, &gfn, &err), nullptr);
  EXPECT_EQ(errno, EPERM);
  EXPECT_EQ(xenevtchn_bind_unbound_port(xce, other.value), -1);
  EXPECT_EQ(errno, EPERM);
  EXPECT_EQ(xenevtchn_bind_virq(xce, 1), -1);
  EXPECT_EQ(errno, EPERM);
  EXPECT_EQ(xendevicemodel_restrict(dmod, other.value), -1);  // cannot widen or move it
  void* m = xenforeignmemory_map(fmem, d(), PROT_READ, 1, &gfn, &err);
  EXPECT_NE(m, nullptr);
  xenforeignmemory_unmap(fmem, m, 1);
  xenevtchn_close(xce);
  xenforeignmemory_close(fmem);
  xendevicemodel_close(dmod);
}

TEST_F(XensimTest, RestrictAllRestrictsEveryOpenHandleAndClosesPrivilegedOnes) {
  const auto other = guest.create_domain({.vcpus = 1, .ram_mib = 4, .start_paused = true});
  auto* dmod = xendevicemodel_open(nullptr, 0);
  auto* xch = xc_interface_open(nullptr, nullptr, 0);
  auto* xs = xs_open(0);
  ASSERT_TRUE(xs_write(xs, XBT_NULL, "/local/domain/0/x", "1", 1));
  ASSERT_EQ(xentoolcore_restrict_all(d()), 0);
  unsigned n = 0;
  EXPECT_EQ(xendevicemodel_nr_vcpus(dmod, other.value, &n), -1);
  EXPECT_EQ(errno, EPERM);
  EXPECT_EQ(xendevicemodel_nr_vcpus(dmod, d(), &n), 0);
  xc_dominfo_t info{};
  EXPECT_EQ(xc_domain_getinfo(xch, 0, 1, &info), -1);  // privcmd gone (dup2 /dev/null)
  EXPECT_FALSE(xs_write(xs, XBT_NULL, "/local/domain/0/x", "2", 1));
  // Handles opened afterwards are not restricted (as in Xen).
  auto* later = xendevicemodel_open(nullptr, 0);
  EXPECT_EQ(xendevicemodel_nr_vcpus(later, other.value, &n), 0);
  xendevicemodel_close(later);
  xs_close(xs);
  xc_interface_close(xch);
  xendevicemodel_close(dmod);
}

TEST(XensimFailureSpec, ParsesNthAndStickyRules) {
  xensim::FailureInjector f;
  EXPECT_FALSE(f.add_spec("xenevtchn_notify:EIO:2,xendevicemodel_inject_msi:28:1+"));
  EXPECT_EQ(f.check("xenevtchn_notify"), 0);
  EXPECT_EQ(f.check("xenevtchn_notify"), EIO);
  EXPECT_EQ(f.check("xenevtchn_notify"), 0);
  EXPECT_EQ(f.check("xendevicemodel_inject_msi"), ENOSPC);
  EXPECT_EQ(f.check("xendevicemodel_inject_msi"), ENOSPC);
  EXPECT_TRUE(f.add_spec("nocolon"));
  EXPECT_TRUE(f.add_spec("x:ENOTANERRNO:1"));
  EXPECT_TRUE(f.add_spec("x:EIO:0"));
}

TEST_F(XensimTest, ProcessRuleFailsTheNamedCallOnItsNthUse) {
  // What XENSIM_FAIL="xenforeignmemory_map_resource:EOPNOTSUPP:1" does in a device model.
  xensim::process_failures().add("xenforeignmemory_map_resource", {EOPNOTSUPP, 1, false});
  auto* dmod = xendevicemodel_open(nullptr, 0);
  auto* fmem = xenforeignmemory_open(nullptr, 0);
  ioservid_t id = 0;
  ASSERT_EQ(xendevicemodel_create_ioreq_server(dmod, d(), 0, &id), 0);
  void* addr = nullptr;
  EXPECT_EQ(
      xenforeignmemory_map_resource(fmem, d(), XENMEM_resource_ioreq_server, id, 1, 1, &addr, PROT_READ, 0),
      nullptr);
  EXPECT_EQ(errno, EOPNOTSUPP);
  auto* fres =
      xenforeignmemory_map_resource(fmem, d(), XENMEM_resource_ioreq_server, id, 1, 1, &addr, PROT_READ, 0);
  EXPECT_NE(fres, nullptr);  // the second use succeeds
  xenforeignmemory_unmap_resource(fmem, fres);
  xensim::process_failures().clear();
  xenforeignmemory_close(fmem);
  xendevicemodel_close(dmod);
}

TEST_F(XensimTest, HostRuleFailsCallsFromAnyClient) {
  guest.inject_failure("xenevtchn_notify", EIO, 2, /*sticky=*/true);
  guest.inject_failure("xendevicemodel_set_ioreq_server_state", EBUSY, 1);
  RawDm dm(d());
  ASSERT_EQ(xendevicemodel_create_ioreq_server(dm.dmod, d(), 0, &dm.id), 0);
  EXPECT_EQ(xendevicemodel_set_ioreq_server_state(dm.dmod, d(), dm.id, 1), -1);
  EXPECT_EQ(errno, EBUSY);
  EXPECT_EQ(xendevicemodel_set_ioreq_server_state(dm.dmod, d(), dm.id, 1), 0);
  auto* a = xenevtchn_open(nullptr, 0);
  const int p = xenevtchn_bind_unbound_port(a, 0);
  EXPECT_EQ(xenevtchn_notify(a, static_cast<evtchn_port_t>(p)), 0);
  EXPECT_EQ(xenevtchn_notify(a, static_cast<evtchn_port_t>(p)), -1);
  EXPECT_EQ(errno, EIO);
  EXPECT_EQ(xenevtchn_notify(a, static_cast<evtchn_port_t>(p)), -1);
  guest.clear_failures();
  EXPECT_EQ(xenevtchn_notify(a, static_cast<evtchn_port_t>(p)), 0);
  xenevtchn_close(a);
}

}  // namespace
