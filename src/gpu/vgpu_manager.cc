#include "gpu/vgpu_manager.h"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <spdlog/spdlog.h>

#include <algorithm>

#include "gpu/uuid.h"
#include "gpu/vendor_descriptor.h"

namespace xvgpu::gpu {

VgpuManager::VgpuManager(ManagerOptions options) : accounting_(std::move(options.state_dir)) {}

VgpuManager::~VgpuManager() {
  std::map<std::string, std::shared_ptr<Vgpu>> vgpus;
  {
    std::lock_guard lock(mu_);
    vgpus.swap(vgpus_);
  }
  for (auto& [uuid, v] : vgpus) {
    try {
      if (v->state() == VgpuState::Running) {
        v->stop();
      }
      if (v->state() != VgpuState::Destroyed) {
        v->destroy();
      }
    } catch (const std::exception& e) {
      spdlog::warn("shutting down vGPU {}: {}", uuid, e.what());
      v->abandon();  // never call into a plugin that is about to be unloaded
    }
  }
  vgpus.clear();
  buses_.clear();
  // Vendors last, in reverse load order.
  while (!vendors_.empty()) {
    vendors_.pop_back();
  }
}

void VgpuManager::add_vendor(std::unique_ptr<VendorPlugin> plugin) {
  std::lock_guard lock(mu_);
  for (const auto& v : vendors_) {
    if (v->name() == plugin->name()) {
      throw Error(fmt::format("vendor '{}' from {} is already loaded from {}", plugin->name(),
                              plugin->source(), v->source()));
    }
  }
  spdlog::info("loaded vendor {} {} from {} ({} physical GPU(s))", plugin->name(), plugin->version(),
               plugin->source(), plugin->pgpus().size());
  vendors_.push_back(std::move(plugin));
}

void VgpuManager::load_plugin(const std::filesystem::path& path) {
  add_vendor(VendorPlugin::load(path));
}

void VgpuManager::load_builtin_vendors() {
  for (auto entry : builtin_vendor_entries()) {
    const xvgpu_vendor* v = entry();
    const std::string name = v != nullptr && v->name != nullptr ? v->name : "";
    bool loaded = false;
    {
      std::lock_guard lock(mu_);
      loaded =
          std::any_of(vendors_.begin(), vendors_.end(), [&](const auto& p) { return p->name() == name; });
    }
    if (!loaded) {
      add_vendor(VendorPlugin::from_entry(entry, "built-in"));
    }
  }
}

std::vector<PluginLoadFailure> VgpuManager::load_plugin_dir(const std::filesystem::path& dir) {
  std::vector<PluginLoadFailure> failures;
  std::error_code ec;
  std::vector<std::filesystem::path> paths;
  for (const auto& e : std::filesystem::directory_iterator(dir, ec)) {
    if (e.path().extension() == ".so") {
      paths.push_back(e.path());
    }
  }
  if (ec) {
    failures.push_back({dir, "cannot read plugin directory: " + ec.message()});
    return failures;
  }
  std::sort(paths.begin(), paths.end());
  for (const auto& p : paths) {
    try {
      load_plugin(p);
    } catch (const std::exception& e) {
      spdlog::error("{}", e.what());
      failures.push_back({p, e.what()});
    }
  }
  return failures;
}

std::vector<std::string> VgpuManager::vendor_names() const {
  std::lock_guard lock(mu_);
  std::vector<std::string> out;
  for (const auto& v : vendors_) {
    out.push_back(v->name());
  }
  return out;
}

std::vector<PhysicalGpuSummary> VgpuManager::physical_gpus() {
  std::vector<PhysicalGpuSummary> out;
  std::lock_guard lock(mu_);
  for (const auto& vendor : vendors_) {
    for (const auto& pgpu : vendor->pgpus()) {
      PhysicalGpuSummary s;
      s.info = &pgpu->info();
      s.vendor_version = vendor->version();
      s.source = vendor->source();
      const PgpuUsage usage = accounting_.usage(pgpu->info().vendor, pgpu->info().name);
      for (uint32_t i = 0; i < pgpu->info().types.size(); ++i) {
        const auto& t = pgpu->info().types[i];
        s.types.push_back(
            {&t, std::min(pgpu->vendor_available(i), accounting_available(pgpu->info(), t, usage))});
      }
      out.push_back(std::move(s));
    }
  }
  return out;
}

std::pair<PhysicalGpu*, uint32_t> VgpuManager::resolve(const VgpuConfig& config) {
  std::string vendor_filter;
  std::string type_name = config.type;
  if (const auto slash = type_name.find('/'); slash != std::string::npos) {
    vendor_filter = type_name.substr(0, slash);
    type_name = type_name.substr(slash + 1);
  }
  std::string pgpu_filter = config.pgpu;
  if (const auto slash = pgpu_filter.find('/'); slash != std::string::npos) {
    if (!vendor_filter.empty() && vendor_filter != pgpu_filter.substr(0, slash)) {
      throw Error(
          fmt::format("type {} and physical GPU {} name different vendors", config.type, config.pgpu));
    }
    vendor_filter = pgpu_filter.substr(0, slash);
    pgpu_filter = pgpu_filter.substr(slash + 1);
  }
  std::vector<std::pair<PhysicalGpu*, uint32_t>> candidates;
  std::vector<std::string> vendors_with_type;
  for (const auto& vendor : vendors_) {
    if (!vendor_filter.empty() && vendor->name() != vendor_filter) {
      continue;
    }
    for (const auto& pgpu : vendor->pgpus()) {
      if (!pgpu_filter.empty() && pgpu->info().name != pgpu_filter) {
        continue;
      }
      uint32_t index = 0;
      if (pgpu->info().type(type_name, &index) == nullptr) {
        continue;
      }
      candidates.emplace_back(pgpu.get(), index);
      if (std::find(vendors_with_type.begin(), vendors_with_type.end(), vendor->name()) ==
          vendors_with_type.end()) {
        vendors_with_type.push_back(vendor->name());
      }
    }
  }
  if (candidates.empty()) {
    std::vector<std::string> known;
    for (const auto& vendor : vendors_) {
      for (const auto& pgpu : vendor->pgpus()) {
        for (const auto& t : pgpu->info().types) {
          known.push_back(vendor->name() + "/" + t.name);
        }
      }
    }
    std::sort(known.begin(), known.end());
    known.erase(std::unique(known.begin(), known.end()), known.end());
    throw Error(fmt::format(
        "unknown vGPU type '{}'{}; known types: {}", config.type,
        config.pgpu.empty() ? "" : " on physical GPU " + config.pgpu,
        known.empty() ? std::string("none (no vendor loaded)") : fmt::format("{}", fmt::join(known, ", "))));
  }
  if (vendors_with_type.size() > 1) {
    throw Error(fmt::format("vGPU type '{}' is offered by several vendors ({}); write vendor/type", type_name,
                            fmt::join(vendors_with_type, ", ")));
  }
  // The first physical GPU with room (host-wide and vendor view).
  for (const auto& [pgpu, index] : candidates) {
    const auto& info = pgpu->info();
    if (accounting_available(info, info.types[index], accounting_.usage(info.vendor, info.name)) > 0 &&
        pgpu->vendor_available(index) > 0) {
      return {pgpu, index};
    }
  }
  return candidates.front();  // create() reports precisely why there is no room
}

std::shared_ptr<Vgpu> VgpuManager::create_vgpu(const VgpuConfig& config, const Platform& platform) {
  // resolve() picks a physical GPU with room, but the host-wide reservation happens later in
  // create(): another process may take the last slot in between (device models of many
  // domains starting at once). Placement is then chosen again, so a vGPU is only
  // refused when no physical GPU has room; a named physical GPU is not second-guessed.
  size_t pgpus = 0;
  if (config.pgpu.empty()) {
    std::lock_guard lock(mu_);
    for (const auto& vendor : vendors_) {
      pgpus += vendor->pgpus().size();
    }
  }
  for (size_t attempt = 0;; ++attempt) {
    try {
      return create_vgpu_once(config, platform);
    } catch (const NoCapacityError&) {
      if (attempt >= pgpus) {
        throw;
      }
    }
  }
}

std::shared_ptr<Vgpu> VgpuManager::create_vgpu_once(const VgpuConfig& config, const Platform& platform) {
  std::shared_ptr<Vgpu> v;
  {
    std::lock_guard lock(mu_);
    const auto uuid = normalize_uuid(config.uuid);
    if (!uuid) {
      throw Error(fmt::format("invalid vGPU uuid '{}' (want 8-4-4-4-12 hex digits)", config.uuid));
    }
    if (vgpus_.count(*uuid) != 0) {
      throw UuidInUseError(fmt::format("vGPU uuid {} is already in use by this process", *uuid));
    }
    for (const auto& [u, other] : vgpus_) {
      if (other->domid() == platform.domid && other->sbdf() == config.sbdf) {
        throw Error(fmt::format("PCI slot {} of domain {} is already used by vGPU {}",
                                config.sbdf.to_string(), platform.domid.value, u));
      }
    }
    auto [pgpu, type_index] = resolve(config);
    auto& bus_slot = buses_[platform.domid];
    if (!bus_slot) {
      bus_slot = std::make_unique<DeviceBus>(platform.domid);
    }
    v = std::make_shared<Vgpu>(config, *pgpu, type_index, platform, *bus_slot, accounting_);
    vgpus_.emplace(v->uuid(), v);
  }
  try {
    v->create();
  } catch (...) {
    std::lock_guard lock(mu_);
    vgpus_.erase(v->uuid());
    throw;
  }
  return v;
}

void VgpuManager::destroy_vgpu(const std::string& uuid) {
  const auto v = find(uuid);
  if (!v) {
    throw Error(fmt::format("no vGPU {} here", uuid));
  }
  if (v->state() == VgpuState::Running) {
    v->stop();
  }
  v->destroy();
  std::lock_guard lock(mu_);
  vgpus_.erase(v->uuid());
}

std::shared_ptr<Vgpu> VgpuManager::find(const std::string& uuid) const {
  const auto n = normalize_uuid(uuid);
  std::lock_guard lock(mu_);
  const auto it = n ? vgpus_.find(*n) : vgpus_.end();
  return it == vgpus_.end() ? nullptr : it->second;
}

std::vector<std::shared_ptr<Vgpu>> VgpuManager::vgpus() const {
  std::lock_guard lock(mu_);
  std::vector<std::shared_ptr<Vgpu>> out;
  for (const auto& [u, v] : vgpus_) {
    out.push_back(v);
  }
  return out;
}

DeviceBus& VgpuManager::bus(Domid domid) {
  std::lock_guard lock(mu_);
  auto& slot = buses_[domid];
  if (!slot) {
    slot = std::make_unique<DeviceBus>(domid);
  }
  return *slot;
}

}  // namespace xvgpu::gpu
