#include "resettable_vgpu.h"

#include <sys/mman.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <set>
#include <span>
#include <vector>

#include "echo_vendor.h"
#include "fuzz_input.h"
#include "support/temp_dir.h"
#include "vendor/simgpu/simgpu_vendor.h"

namespace xvgpu::fuzz {

namespace {

// Zeroes private anonymous memory (ZeroedMemory: guest RAM, VRAM) at a cost that follows what
// the input touched, not the size: the resident pages are cleared by hand when they are few
// (dropped pages would fault in again on the next input), all dropped when they are many.
void zero(std::span<std::byte> mem) {
  constexpr size_t kPage = 4096;
  constexpr size_t kMaxByHand = 64;
  if (mem.empty()) return;
  // Found with memchr, which is not instrumented: the harness's own loops over 4096 pages
  // would cost more than the input.
  static std::vector<unsigned char> resident;
  resident.assign((mem.size() + kPage - 1) / kPage, 1);
  static std::vector<size_t> pages;
  pages.clear();
  bool many = ::mincore(mem.data(), mem.size(), resident.data()) != 0;
  for (const unsigned char* p = resident.data(); !many;) {
    const size_t left = resident.size() - static_cast<size_t>(p - resident.data());
    p = static_cast<const unsigned char*>(std::memchr(p, 1, left));
    if (p == nullptr) break;
    pages.push_back(static_cast<size_t>(p - resident.data()));
    many = pages.size() > kMaxByHand;
    ++p;
  }
  if (many) {
    if (::madvise(mem.data(), mem.size(), MADV_DONTNEED) != 0) std::memset(mem.data(), 0, mem.size());
    return;
  }
  for (const size_t i : pages)
    std::memset(mem.data() + i * kPage, 0, std::min(kPage, mem.size() - i * kPage));
}

}  // namespace

gpu::VgpuManager& fuzz_manager() {
  static gpu::VgpuManager* m = [] {
    const int rc = xvgpu_simgpu_register_builtin();
    if (rc != 0 && rc != -EEXIST) violation("simgpu registration failed");
    register_echo_vendor();
    // The manager's state directory: constructed before it, so removed after it at exit.
    static const TempDir state_dir("xvgpu-fuzz-");
    // simgpu keeps its host-wide engine arbiter table there too (read when the vendor loads):
    // a private one, so that the fuzzer's engine neither waits for nor competes with the device
    // models of this host or another fuzzer.
    if (::setenv("XVGPU_STATE_DIR", state_dir.path().c_str(), 1) != 0)
      violation("setenv XVGPU_STATE_DIR failed");
    // Destroyed at exit, after simgpu's own statics: simgpu's fini() then runs during static
    // destruction and must not touch state that is already gone.
    static gpu::VgpuManager instance(gpu::ManagerOptions{state_dir.path()});
    instance.load_builtin_vendors();
    return &instance;
  }();
  return *m;
}

ResettableVgpu::ResettableVgpu(const std::string& type, Domid domid, Sbdf sbdf, const std::string& uuid,
                               uint64_t ram_bytes, bool direct)
    : domid_(domid),
      sbdf_(sbdf),
      uuid_(uuid),
      ram_bytes_(ram_bytes),
      platform_(std::make_unique<test::FakePlatform>(domid, ram_bytes)) {
  gpu::VgpuConfig c;
  c.uuid = uuid;
  c.type = type;
  c.sbdf = sbdf;
  vgpu_ = fuzz_manager().create_vgpu(c, platform_->platform(direct));
  vgpu_->start();
  for (unsigned i = 0; i < power_on_config_.size(); ++i) power_on_config_[i] = vgpu_->config_read(i * 4, 4);
  check_at_rest("after start");
}

ResettableVgpu::~ResettableVgpu() {
  vgpu_.reset();
  fuzz_manager().destroy_vgpu(uuid_);
  if (platform_->claims.violations() != 0) violation("unbalanced or overlapping claims");
  if (!platform_->claims.ranges().empty() || !platform_->claims.pcis().empty())
    violation("claims left after destroy");
  if (platform_->memory.live_mappings() != 0) violation("guest mappings left after destroy");
  if (platform_->direct.live() != 0) violation("direct regions left after destroy");
}

void ResettableVgpu::power_cycle() {
  try {
    if (vgpu_->state() != gpu::VgpuState::Running) vgpu_->start();
    vgpu_->reset();
  } catch (const std::exception& e) {
    violation(e.what());
  }
  for (uint32_t bar = 0; bar < 6; ++bar) {
    void* host = nullptr;
    uint64_t size = 0;
    if (vgpu_->svc_direct_bar(bar, &host, &size) == 0) zero({static_cast<std::byte*>(host), size});
  }
  zero(platform_->memory.bytes(0, ram_bytes_));
  platform_->interrupts.clear();
  platform_->claims.clear_events();
  check_at_rest("after reset");
}

void ResettableVgpu::check_at_rest(const char* when) {
  auto fail = [when](const char* what) {
    (void)std::fprintf(stderr, "%s: ", when);
    violation(what);
  };
  if (platform_->claims.violations() != 0) fail("unbalanced or overlapping claims");
  if (!platform_->claims.ranges().empty()) fail("BAR claims left with decode off");
  if (platform_->claims.pcis() != std::set<Sbdf>{sbdf_}) fail("the function is not claimed (alone)");
  if (platform_->memory.live_mappings() != 0) fail("guest mappings left");
  for (const auto* r : platform_->direct.regions()) {
    if (r->placed()) fail("a direct BAR is still placed with decode off");
  }
  for (unsigned i = 0; i < power_on_config_.size(); ++i) {
    if (vgpu_->config_read(i * 4, 4) != power_on_config_[i]) fail("config space differs from power-on");
  }
}

}  // namespace xvgpu::fuzz
