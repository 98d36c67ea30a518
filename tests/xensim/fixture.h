// Common fixture of xensim's in-process tests: a Host with a short hang timeout, the guest
// side, and one running domain.
#pragma once

#include <gtest/gtest.h>

#include <future>

#include "raw_dm.h"
#include "xensim/guest.h"
#include "xensim/host.h"
#include "xensim/xen_headers.h"

extern "C" {
#include <xenstore.h>
#include <xentoolcore.h>
}

class XensimTest : public ::testing::Test {
 protected:
  static xensim::HostOptions options() {
    xensim::HostOptions o;
    o.hang_timeout = std::chrono::milliseconds(150);
    return o;
  }
  XensimTest() : host(options()), guest(host) {
    dom = guest.create_domain({.vcpus = 2, .ram_mib = 16, .start_paused = false});
  }

  std::future<xensim::AccessResult> async(const xensim::Access& a, uint32_t vcpu = 0) {
    return std::async(std::launch::async,
                      [this, a, vcpu] { return guest.access(dom, xvgpu::VcpuId{vcpu}, a); });
  }
  static xensim::Access mmio(uint8_t dir, uint64_t addr, uint32_t size = 4, uint64_t data = 0) {
    xensim::Access a;
    a.space = xensim::Space::mmio;
    a.dir = dir;
    a.addr = addr;
    a.size = size;
    a.data = data;
    return a;
  }
  static xensim::Access pio(uint8_t dir, uint64_t port, uint32_t size = 4, uint64_t data = 0) {
    auto a = mmio(dir, port, size, data);
    a.space = xensim::Space::pio;
    return a;
  }
  uint16_t d() const { return dom.value; }

  xensim::Host host;
  xensim::Guest guest;
  xvgpu::Domid dom;
};

inline constexpr uint64_t kBar = 0xe0000000;
