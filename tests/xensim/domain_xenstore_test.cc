// Domains as libxenctrl sees them (death detection), and the tiny xenstore.
#include <poll.h>

#include <array>
#include <cstdlib>
#include <string>

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

std::string read_key(xs_handle* xs, const std::string& path) {
  unsigned len = 0;
  char* v = static_cast<char*>(xs_read(xs, XBT_NULL, path.c_str(), &len));
  if (v == nullptr) {
    return "(absent)";
  }
  std::string out(v, len);
  std::free(v);
  return out;
}

// What libxl 4.17 writes for a domain (libxl__domain_make, libxl__domain_rename), and what a
// destroy leaves: nothing of it, and @releaseDomain fired.
TEST_F(XensimTest, DomainsHaveTheToolstacksXenstoreKeysAndReleaseDomainFires) {
  auto* xs = xs_open(0);
  ASSERT_NE(xs, nullptr);
  xensim::DomainIdentity id;
  id.handle = std::array<uint8_t, 16>{0x0e, 0x3c, 0x3d, 0x2a, 0x11, 0x11, 0x42, 0x22,
                                      0x83, 0x33, 0x44, 0x44, 0x55, 0x55, 0xaa, 0xaa};
  id.name = "vm-a";
  const auto p = guest.create_domain({.vcpus = 1, .ram_mib = 8, .start_paused = true}, id);
  const std::string dom_path = "/local/domain/" + std::to_string(p.value);
  const std::string vm = "/vm/0e3c3d2a-1111-4222-8333-44445555aaaa";
  EXPECT_EQ(read_key(xs, dom_path + "/name"), "vm-a");
  EXPECT_EQ(read_key(xs, dom_path + "/vm"), vm);
  EXPECT_EQ(read_key(xs, dom_path + "/domid"), std::to_string(p.value));
  EXPECT_EQ(read_key(xs, vm + "/uuid"), "0e3c3d2a-1111-4222-8333-44445555aaaa");
  EXPECT_EQ(read_key(xs, vm + "/name"), "vm-a");
  EXPECT_EQ(read_key(xs, "/local/domain/" + std::to_string(d()) + "/name"), "xensim-" + std::to_string(d()))
      << "the default name";

  ASSERT_TRUE(xs_watch(xs, "@releaseDomain", "rel"));
  unsigned num = 0;
  char** ev = xs_read_watch(xs, &num);  // fires once when set
  ASSERT_NE(ev, nullptr);
  EXPECT_STREQ(ev[XS_WATCH_PATH], "@releaseDomain");
  std::free(ev);
  pollfd pfd{xs_fileno(xs), POLLIN, 0};
  EXPECT_EQ(::poll(&pfd, 1, 50), 0) << "nothing fires while no domain dies";
  guest.destroy_domain(p);
  ASSERT_EQ(::poll(&pfd, 1, 1000), 1);
  bool released = false;
  while ((ev = xs_check_watch(xs)) != nullptr) {
    released = released || std::string(ev[XS_WATCH_PATH]) == "@releaseDomain";
    std::free(ev);
  }
  EXPECT_TRUE(released);
  EXPECT_EQ(read_key(xs, dom_path + "/name"), "(absent)");
  EXPECT_EQ(read_key(xs, vm + "/uuid"), "(absent)");
  EXPECT_FALSE(xs_write(xs, XBT_NULL, "@releaseDomain", "x", 1)) << "a special node holds no value";
  EXPECT_EQ(errno, EINVAL);
  xs_close(xs);
}

}  // namespace
