// A stand-in for the xvgpu core that speaks only include/xvgpu/vendor.h: guest RAM in a
// vector, VRAM per instance, MSI/INTx counters, one worker thread per instance, and strict
// bound checks (guest ranges outside RAM fail with -EFAULT), so simgpu is tested exactly at
// its ABI. Accesses are dispatched as the core does (region-relative, naturally aligned).
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <thread>
#include <vector>

#include "xvgpu/vendor.h"

namespace xvgpu::simgpu::test {

class TestHost;

// One vGPU as the test host holds it.
struct TestInstance {
  TestHost* host = nullptr;
  std::span<std::byte> vram;  // anonymous mmap: untouched pages cost nothing
  std::atomic<uint64_t> msis{0};
  std::atomic<uint64_t> intx_asserts{0};
  std::atomic<bool> intx_level{false};
  bool msi_enabled = true;
  // The vendor's own writes into VRAM, as reported by direct_bar_written (offset, length): the
  // first kMaxVendorWrites, so that long engine runs (benchmarks) do not grow it without bound.
  static constexpr size_t kMaxVendorWrites = 65536;
  std::vector<std::pair<uint64_t, uint64_t>> vendor_writes;
  void* vgpu_data = nullptr;
  uint32_t pgpu = 0;
  uint32_t type_index = 0;

  // Worker: jobs run in submission order on one thread.
  std::mutex mu;
  std::condition_variable cv;
  std::deque<std::pair<void (*)(void*), void*>> jobs;
  bool running_job = false;
  bool stop = false;
  std::thread worker;
};

struct Registration {
  const xvgpu_pgpu_desc* desc = nullptr;
  const xvgpu_device_ops* ops = nullptr;
  void* pgpu_data = nullptr;
};

class TestHost {
 public:
  // Guest RAM is [ram_base, ram_base + ram_size).
  static constexpr uint64_t kRamBase = 0x100000;
  explicit TestHost(uint64_t ram_size = 8u << 20);
  ~TestHost();
  TestHost(const TestHost&) = delete;
  TestHost& operator=(const TestHost&) = delete;

  // Runs the vendor's init(); returns its result (err receives the message).
  int load(const xvgpu_vendor* vendor, xvgpu_error* err = nullptr);
  [[nodiscard]] const std::vector<Registration>& pgpus() const { return pgpus_; }

  // Creates an instance of type `type_index` on pgpu 0; nullptr and *rc/err on refusal.
  TestInstance* create(uint32_t type_index, const std::vector<xvgpu_knob_value>& params = {},
                       int* rc = nullptr, xvgpu_error* err = nullptr, const std::string& uuid = "");
  int destroy(TestInstance* inst);
  int start(TestInstance* inst);

  // Trapped accesses, as the core dispatches them.
  uint64_t read(TestInstance* inst, uint32_t region, uint64_t offset, uint32_t size, int* rc = nullptr);
  int write(TestInstance* inst, uint32_t region, uint64_t offset, uint32_t size, uint64_t value);
  void set_msi(TestInstance* inst, bool enabled);

  // Waits until the instance's worker has nothing queued or running.
  void drain(TestInstance* inst);

  std::span<std::byte> ram() { return ram_; }
  std::byte* gpa(uint64_t addr) { return ram_.data() + (addr - kRamBase); }
  [[nodiscard]] int64_t open_mappings() const { return open_mappings_.load(); }
  [[nodiscard]] const xvgpu_device_ops& ops(const TestInstance* inst) const {
    return *pgpus_.at(inst->pgpu).ops;
  }
  const xvgpu_host_api* api() const { return &api_; }

  // xvgpu_host_api entry points.
  static int register_pgpu(xvgpu_registrar* reg, const xvgpu_pgpu_desc* desc, const xvgpu_device_ops* ops,
                           void* pgpu_data, xvgpu_error* err);
  static void log(xvgpu_instance* inst, int level, const char* message);
  static int guest_read(xvgpu_instance* inst, uint64_t gpa, void* buf, uint64_t len);
  static int guest_write(xvgpu_instance* inst, uint64_t gpa, const void* buf, uint64_t len);
  static int sg_map(xvgpu_instance* inst, const xvgpu_sg_entry* entries, uint32_t count, int writable,
                    xvgpu_host_segment* out, xvgpu_sg_mapping** mapping);
  static void sg_release(xvgpu_instance* inst, xvgpu_sg_mapping* mapping);
  static int raise_msi(xvgpu_instance* inst, uint32_t vector);
  static int set_intx(xvgpu_instance* inst, int asserted);
  static int direct_bar(xvgpu_instance* inst, uint32_t bar, void** host, uint64_t* size);
  static int direct_bar_dirty(xvgpu_instance* inst, uint32_t bar, uint64_t* bitmap, uint64_t words);
  static int direct_bar_written(xvgpu_instance* inst, uint32_t bar, uint64_t offset, uint64_t len);
  static int queue_work(xvgpu_instance* inst, void (*fn)(void*), void* arg);
  static int domain_info(xvgpu_instance* inst, xvgpu_domain_info* out);
  static uint32_t capability_offset(xvgpu_instance* inst, uint32_t index);

 private:
  bool in_ram(uint64_t gpa, uint64_t len) const;

  xvgpu_host_api api_{};
  std::vector<std::byte> ram_;
  std::vector<Registration> pgpus_;
  std::vector<std::unique_ptr<TestInstance>> instances_;
  std::atomic<int64_t> open_mappings_{0};
  const xvgpu_vendor* vendor_ = nullptr;
  unsigned next_uuid_ = 0;
};

}  // namespace xvgpu::simgpu::test
