#include "gpu/vendor_plugin.h"

#include <dlfcn.h>
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <mutex>

#include "gpu/host_services.h"
#include "gpu/vendor_descriptor.h"

namespace xvgpu::gpu {

namespace {
std::mutex& builtin_mu() {
  static std::mutex mu;
  return mu;
}
std::vector<xvgpu_vendor_entry_fn>& builtin_list() {
  static std::vector<xvgpu_vendor_entry_fn> list;
  return list;
}
}  // namespace

std::vector<xvgpu_vendor_entry_fn> builtin_vendor_entries() {
  std::lock_guard lock(builtin_mu());
  return builtin_list();
}

uint32_t PhysicalGpu::vendor_available(uint32_t type_index) const {
  uint32_t count = 0;
  const int rc = ops_.available_instances(data_, type_index, &count);
  if (rc < 0) {
    spdlog::warn("{}/{}: available_instances failed ({})", info_.vendor, info_.name, rc);
    return 0;
  }
  return count;
}

void VendorPlugin::DlClose::operator()(void* handle) const {
  if (handle != nullptr) {
    ::dlclose(handle);
  }
}

std::unique_ptr<VendorPlugin> VendorPlugin::load(const std::filesystem::path& path) {
  std::unique_ptr<VendorPlugin> p(new VendorPlugin());
  p->source_ = path.string();
  ::dlerror();
  p->handle_.reset(::dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL));
  if (!p->handle_) {
    const char* why = ::dlerror();
    throw Error(fmt::format("cannot load vendor plugin {}: {}", path.string(),
                            why != nullptr ? why : "unknown error"));
  }
  void* sym = ::dlsym(p->handle_.get(), XVGPU_VENDOR_ENTRY_SYMBOL);
  if (sym == nullptr) {
    throw VendorAbiError(fmt::format("{} is not an xvgpu vendor plugin: it does not export {}()",
                                     path.string(), XVGPU_VENDOR_ENTRY_SYMBOL));
  }
  xvgpu_vendor_entry_fn entry = nullptr;
  static_assert(sizeof entry == sizeof sym);
  std::memcpy(&entry, &sym, sizeof entry);
  p->init(entry);
  return p;
}

std::unique_ptr<VendorPlugin> VendorPlugin::from_entry(xvgpu_vendor_entry_fn entry,
                                                       const std::string& source) {
  std::unique_ptr<VendorPlugin> p(new VendorPlugin());
  p->source_ = source;
  p->init(entry);
  return p;
}

void VendorPlugin::init(xvgpu_vendor_entry_fn entry) {
  vendor_ = check_vendor_entry(entry(), source_);
  name_ = vendor_.name;
  version_ = vendor_.version != nullptr ? std::string(vendor_.version, ::strnlen(vendor_.version, 256)) : "";
  uint32_t head[3] = {};
  std::memcpy(head, entry(), sizeof head);
  abi_minor_ = head[2];
  xvgpu_registrar reg{this, {}};
  xvgpu_error err{};
  const int rc = vendor_.init(host_api(), &reg, &err);
  initialised_ = true;
  if (rc < 0 || !reg.error.empty()) {
    const std::string why = rc < 0 ? vendor_message(err) : reg.error;
    pgpus_.clear();
    throw VendorAbiError(fmt::format("{}: vendor '{}' failed to initialise: {}{}", source_, name_,
                                     why.empty() ? "no reason given" : why,
                                     rc < 0 ? fmt::format(" (error {})", rc) : ""));
  }
  if (pgpus_.empty()) {
    spdlog::warn("{}: vendor '{}' registered no physical GPU", source_, name_);
  }
}

void VendorPlugin::add_pgpu(std::unique_ptr<PhysicalGpu> pgpu) {
  for (const auto& existing : pgpus_) {
    if (existing->info().name == pgpu->info().name) {
      throw VendorAbiError(fmt::format("physical GPU '{}' registered twice", pgpu->info().name));
    }
  }
  pgpus_.push_back(std::move(pgpu));
}

VendorPlugin::~VendorPlugin() {
  pgpus_.clear();
  if (initialised_ && vendor_.fini != nullptr) {
    vendor_.fini();
  }
}

}  // namespace xvgpu::gpu

extern "C" int xvgpu_register_builtin_vendor(xvgpu_vendor_entry_fn entry) {
  if (entry == nullptr) {
    return -EINVAL;
  }
  std::lock_guard lock(xvgpu::gpu::builtin_mu());
  auto& list = xvgpu::gpu::builtin_list();
  if (std::find(list.begin(), list.end(), entry) != list.end()) {
    return -EEXIST;
  }
  list.push_back(entry);
  return 0;
}
