// Domains as libxenctrl sees them (death detection), and the tiny xenstore.
#include <poll.h>

#include <cstdlib>

#include "fixture.h"

namespace {

TEST_F(XensimTest, DomainInfoFollowsTheLifecycle) {
  auto* xch = xc_interface_open(nullptr, nullptr, 0);
  const auto p = guest.create_domain({.vcpus = 3, .ram_mib = 8, .start_paused = true});
  xc_dominfo_t info[4] = {};
  ASSERT_EQ(xc_domain_getinfo(xch, p.value, 1, info), 1);
  EXPECT_EQ(info[0].domid, p.value);
  EXPECT_EQ(info[0].paused, 1u);
  EXPECT_EQ(info[0].hvm, 1u);
  EXPECT_EQ(info[0].max_vcpu_id, 2u);
  EXPECT_EQ(info[0].nr_pages, 8u * 256 - 32);  // minus the VGA hole
  ASSERT_EQ(xc_domain_unpause(xch, p.value), 0);
  xc_domaininfo_t li[4] = {};
  ASSERT_EQ(xc_domain_getinfolist(xch, 0, 4, li), 3);  // dom0, dom, p
  EXPECT_EQ(li[0].domain, 0);
  EXPECT_EQ(li[2].domain, p.value);
  EXPECT_TRUE(li[2].flags & XEN_DOMINF_running);
  ASSERT_EQ(xc_domain_destroy(xch, p.value), 0);
  // Gone: getinfo from its id returns no domain (or the next one) -- never it.
  const int n = xc_domain_getinfo(xch, p.value, 1, info);
  EXPECT_TRUE(n == 0 || info[0].domid != p.value);
  EXPECT_EQ(xc_domain_pause(xch, p.value), -1);
  EXPECT_EQ(errno, ESRCH);
  xc_interface_close(xch);
}

TEST_F(XensimTest, XenstoreReadWriteDirectoryRmAndWatches) {
  auto* xs = xs_open(0);
  ASSERT_NE(xs, nullptr);
  const std::string base = "/local/domain/0/device-model/" + std::to_string(d());
  ASSERT_TRUE(xs_watch(xs, (base + "/state").c_str(), "tok"));
  unsigned num = 0;
  char** ev = xs_read_watch(xs, &num);  // a watch fires once on registration
  ASSERT_NE(ev, nullptr);
  EXPECT_EQ(num, 2u);
  EXPECT_STREQ(ev[XS_WATCH_TOKEN], "tok");
  std::free(ev);
  ASSERT_TRUE(xs_write(xs, XBT_NULL, (base + "/state").c_str(), "running", 7));
  pollfd p{xs_fileno(xs), POLLIN, 0};
  ASSERT_EQ(::poll(&p, 1, 1000), 1);
  ev = xs_check_watch(xs);
  ASSERT_NE(ev, nullptr);
  EXPECT_EQ(std::string(ev[XS_WATCH_PATH]), base + "/state");
  std::free(ev);
  unsigned len = 0;
  char* v = static_cast<char*>(xs_read(xs, XBT_NULL, (base + "/state").c_str(), &len));
  ASSERT_NE(v, nullptr);
  EXPECT_EQ(std::string(v, len), "running");
  std::free(v);
  char** dir = xs_directory(xs, XBT_NULL, base.c_str(), &num);
  ASSERT_NE(dir, nullptr);
  ASSERT_EQ(num, 1u);
  EXPECT_STREQ(dir[0], "state");
  std::free(dir);
  ASSERT_TRUE(xs_rm(xs, XBT_NULL, base.c_str()));
  EXPECT_EQ(xs_read(xs, XBT_NULL, (base + "/state").c_str(), &len), nullptr);
  EXPECT_EQ(errno, ENOENT);
  EXPECT_FALSE(xs_rm(xs, XBT_NULL, base.c_str()));
  ASSERT_TRUE(xs_unwatch(xs, (base + "/state").c_str(), "tok"));
  char* path = xs_get_domain_path(xs, 5);
  EXPECT_STREQ(path, "/local/domain/5");
  std::free(path);
  xs_close(xs);
}

}  // namespace
