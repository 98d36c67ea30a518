#include "test_host.h"

#include <sys/mman.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <utility>

namespace xvgpu::simgpu::test {

namespace {

TestInstance* self(xvgpu_instance* inst) {
  return reinterpret_cast<TestInstance*>(inst);
}
xvgpu_instance* handle(TestInstance* inst) {
  return reinterpret_cast<xvgpu_instance*>(inst);
}

struct Mapping {
  uint32_t count = 0;
};

void worker_loop(TestInstance* inst) {
  std::unique_lock lock(inst->mu);
  for (;;) {
    inst->cv.wait(lock, [&] { return inst->stop || !inst->jobs.empty(); });
    if (inst->jobs.empty()) return;
    auto job = inst->jobs.front();
    inst->jobs.pop_front();
    inst->running_job = true;
    lock.unlock();
    job.first(job.second);
    lock.lock();
    inst->running_job = false;
    inst->cv.notify_all();
  }
}

}  // namespace

TestHost::TestHost(uint64_t ram_size) : ram_(ram_size) {
  api_.struct_size = XVGPU_INIT(xvgpu_host_api);
  api_.abi_major = XVGPU_VENDOR_ABI_MAJOR;
  api_.abi_minor = XVGPU_VENDOR_ABI_MINOR;
  api_.register_pgpu = register_pgpu;
  api_.log = log;
  api_.guest_read = guest_read;
  api_.guest_write = guest_write;
  api_.sg_map = sg_map;
  api_.sg_release = sg_release;
  api_.raise_msi = raise_msi;
  api_.set_intx = set_intx;
  api_.direct_bar = direct_bar;
  api_.direct_bar_dirty = direct_bar_dirty;
  api_.direct_bar_written = direct_bar_written;
  api_.queue_work = queue_work;
  api_.domain_info = domain_info;
  api_.capability_offset = capability_offset;
}

TestHost::~TestHost() {
  while (!instances_.empty()) destroy(instances_.back().get());
  if (vendor_ != nullptr && vendor_->fini != nullptr) vendor_->fini();
}

int TestHost::load(const xvgpu_vendor* vendor, xvgpu_error* err) {
  xvgpu_error local{};
  vendor_ = vendor;
  return vendor->init(&api_, reinterpret_cast<xvgpu_registrar*>(this), err != nullptr ? err : &local);
}

int TestHost::register_pgpu(xvgpu_registrar* reg, const xvgpu_pgpu_desc* desc, const xvgpu_device_ops* ops,
                            void* pgpu_data, xvgpu_error* /*err*/) {
  auto* host = reinterpret_cast<TestHost*>(reg);
  host->pgpus_.push_back(Registration{desc, ops, pgpu_data});
  return 0;
}

TestInstance* TestHost::create(uint32_t type_index, const std::vector<xvgpu_knob_value>& params, int* rc,
                               xvgpu_error* err, const std::string& uuid) {
  const auto& reg = pgpus_.at(0);
  auto inst = std::make_unique<TestInstance>();
  inst->host = this;
  inst->type_index = type_index;
  if (type_index < reg.desc->num_types) {
    const uint64_t size = reg.desc->types[type_index]->vram_bytes;
    void* p = mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (p == MAP_FAILED) return nullptr;
    inst->vram = std::span<std::byte>(static_cast<std::byte*>(p), size);
  }
  xvgpu_create_info info{};
  info.struct_size = XVGPU_INIT(xvgpu_create_info);
  info.type_index = type_index;
  const std::string id = uuid.empty() ? "00000000-0000-4000-8000-" +
                                            [this] {
                                              char buf[13];
                                              std::snprintf(buf, sizeof buf, "%012x", next_uuid_++);
                                              return std::string(buf);
                                            }()
                                      : uuid;
  std::snprintf(info.uuid, sizeof info.uuid, "%s", id.c_str());
  info.num_params = static_cast<uint32_t>(params.size());
  info.params = params.data();
  xvgpu_error local{};
  inst->worker = std::thread(worker_loop, inst.get());
  const int r = reg.ops->create(reg.pgpu_data, handle(inst.get()), &info, &inst->vgpu_data,
                                err != nullptr ? err : &local);
  if (rc != nullptr) *rc = r;
  if (r < 0) {
    {
      std::lock_guard lock(inst->mu);
      inst->stop = true;
    }
    inst->cv.notify_all();
    inst->worker.join();
    if (!inst->vram.empty()) munmap(inst->vram.data(), inst->vram.size());
    return nullptr;
  }
  instances_.push_back(std::move(inst));
  return instances_.back().get();
}

int TestHost::start(TestInstance* inst) {
  xvgpu_domain_info d{};
  d.struct_size = XVGPU_INIT(xvgpu_domain_info);
  d.domid = 1;
  d.vm_name = "test";
  xvgpu_error err{};
  set_msi(inst, inst->msi_enabled);
  return ops(inst).start(inst->vgpu_data, &d, &err);
}

int TestHost::destroy(TestInstance* inst) {
  drain(inst);
  xvgpu_error err{};
  const int rc = ops(inst).destroy(inst->vgpu_data, &err);
  if (rc < 0) return rc;
  {
    std::lock_guard lock(inst->mu);
    inst->stop = true;
  }
  inst->cv.notify_all();
  inst->worker.join();
  if (!inst->vram.empty()) munmap(inst->vram.data(), inst->vram.size());
  for (auto it = instances_.begin(); it != instances_.end(); ++it) {
    if (it->get() == inst) {
      instances_.erase(it);
      break;
    }
  }
  return 0;
}

uint64_t TestHost::read(TestInstance* inst, uint32_t region, uint64_t offset, uint32_t size, int* rc) {
  xvgpu_access a{};
  a.struct_size = XVGPU_INIT(xvgpu_access);
  a.region = region;
  a.offset = offset;
  a.size = size;
  uint64_t v = 0;
  const int r = ops(inst).read(inst->vgpu_data, &a, &v);
  if (rc != nullptr) *rc = r;
  // What the core answers for a refused read: all ones.
  return r < 0 ? (size == 8 ? ~uint64_t{0} : (uint64_t{1} << (8 * size)) - 1) : v;
}

int TestHost::write(TestInstance* inst, uint32_t region, uint64_t offset, uint32_t size, uint64_t value) {
  xvgpu_access a{};
  a.struct_size = XVGPU_INIT(xvgpu_access);
  a.region = region;
  a.offset = offset;
  a.size = size;
  return ops(inst).write(inst->vgpu_data, &a, value);
}

void TestHost::set_msi(TestInstance* inst, bool enabled) {
  inst->msi_enabled = enabled;
  xvgpu_irq_state s{};
  s.struct_size = XVGPU_INIT(xvgpu_irq_state);
  s.msi_enabled = enabled ? 1 : 0;
  s.msi_vectors_enabled = enabled ? 1 : 0;
  if (ops(inst).irq_changed != nullptr) ops(inst).irq_changed(inst->vgpu_data, &s);
}

void TestHost::drain(TestInstance* inst) {
  std::unique_lock lock(inst->mu);
  inst->cv.wait(lock, [&] { return inst->jobs.empty() && !inst->running_job; });
}

bool TestHost::in_ram(uint64_t gpa, uint64_t len) const {
  return gpa >= kRamBase && gpa - kRamBase <= ram_.size() && len <= ram_.size() - (gpa - kRamBase);
}

void TestHost::log(xvgpu_instance* /*inst*/, int /*level*/, const char* /*message*/) {}

int TestHost::guest_read(xvgpu_instance* inst, uint64_t gpa, void* buf, uint64_t len) {
  auto* h = self(inst)->host;
  if (!h->in_ram(gpa, len)) return -EFAULT;
  std::memcpy(buf, h->gpa(gpa), len);
  return 0;
}

int TestHost::guest_write(xvgpu_instance* inst, uint64_t gpa, const void* buf, uint64_t len) {
  auto* h = self(inst)->host;
  if (!h->in_ram(gpa, len)) return -EFAULT;
  std::memcpy(h->gpa(gpa), buf, len);
  return 0;
}

int TestHost::sg_map(xvgpu_instance* inst, const xvgpu_sg_entry* entries, uint32_t count, int /*writable*/,
                     xvgpu_host_segment* out, xvgpu_sg_mapping** mapping) {
  auto* h = self(inst)->host;
  if (count == 0 || count > 1024) return -EINVAL;
  for (uint32_t i = 0; i < count; ++i) {
    if (!h->in_ram(entries[i].gpa, entries[i].len)) return -EFAULT;
  }
  for (uint32_t i = 0; i < count; ++i) out[i] = xvgpu_host_segment{h->gpa(entries[i].gpa), entries[i].len};
  auto m = std::make_unique<Mapping>();
  m->count = count;
  *mapping = reinterpret_cast<xvgpu_sg_mapping*>(m.release());
  h->open_mappings_.fetch_add(1);
  return 0;
}

void TestHost::sg_release(xvgpu_instance* inst, xvgpu_sg_mapping* mapping) {
  std::unique_ptr<Mapping> m(reinterpret_cast<Mapping*>(mapping));
  self(inst)->host->open_mappings_.fetch_sub(1);
}

int TestHost::raise_msi(xvgpu_instance* inst, uint32_t vector) {
  auto* i = self(inst);
  if (vector != 0) return -EINVAL;
  if (!i->msi_enabled) return XVGPU_MSI_DISABLED;
  i->msis.fetch_add(1);
  return XVGPU_MSI_DELIVERED;
}

int TestHost::set_intx(xvgpu_instance* inst, int asserted) {
  auto* i = self(inst);
  if (asserted != 0 && !i->intx_level.load()) i->intx_asserts.fetch_add(1);
  i->intx_level.store(asserted != 0);
  return 0;
}

int TestHost::direct_bar(xvgpu_instance* inst, uint32_t bar, void** host, uint64_t* size) {
  auto* i = self(inst);
  if (bar != 0 || i->vram.empty()) return -EINVAL;
  *host = i->vram.data();
  *size = i->vram.size();
  return 0;
}

int TestHost::direct_bar_written(xvgpu_instance* inst, uint32_t bar, uint64_t offset, uint64_t len) {
  auto* i = self(inst);
  if (bar != 0 || offset > i->vram.size() || len > i->vram.size() - offset) return -EINVAL;
  std::lock_guard lock(i->mu);
  if (i->vendor_writes.size() < TestInstance::kMaxVendorWrites) i->vendor_writes.emplace_back(offset, len);
  return 0;
}

int TestHost::direct_bar_dirty(xvgpu_instance* inst, uint32_t bar, uint64_t* bitmap, uint64_t words) {
  auto* i = self(inst);
  if (bar != 0) return -EINVAL;
  const uint64_t pages = i->vram.size() / 4096;
  if (words * 64 < pages) return -EINVAL;
  std::memset(bitmap, 0xff, words * sizeof(uint64_t));  // no dirty log here: everything dirty
  return 0;
}

int TestHost::queue_work(xvgpu_instance* inst, void (*fn)(void*), void* arg) {
  auto* i = self(inst);
  {
    std::lock_guard lock(i->mu);
    if (i->stop) return -ESHUTDOWN;
    i->jobs.emplace_back(fn, arg);
  }
  i->cv.notify_all();
  return 0;
}

int TestHost::domain_info(xvgpu_instance* /*inst*/, xvgpu_domain_info* /*out*/) {
  return -ENODEV;
}

uint32_t TestHost::capability_offset(xvgpu_instance* /*inst*/, uint32_t /*index*/) {
  return 0;
}

}  // namespace xvgpu::simgpu::test
