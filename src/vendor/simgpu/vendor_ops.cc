// The C ops table of the simgpu vendor: translates include/xvgpu/vendor.h callbacks into
// SimgpuDevice calls. No exception crosses this boundary: each callback catches and answers
// with -errno and a message.
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "common/error.h"
#include "vendor/simgpu/knobs.h"
#include "vendor/simgpu/physical_gpu.h"
#include "vendor/simgpu/simgpu_device.h"
#include "vendor/simgpu/simgpu_vendor.h"

namespace xvgpu::simgpu {

namespace {

constexpr const char* kDefaultPhysicalGpus = "simgpu0:1024:8";

struct Instance {
  PhysicalGpu* pgpu = nullptr;
  uint32_t type_index = 0;
  std::string uuid;
  std::unique_ptr<SimgpuDevice> device;
};

struct VendorState {
  const xvgpu_host_api* host = nullptr;
  std::vector<std::unique_ptr<PhysicalGpu>> pgpus;
  std::mutex registry_mu;
  std::map<std::string, Instance*> by_uuid;
};

VendorState& state() {
  // Never destroyed: a host whose VgpuManager is itself static calls fini() during static
  // destruction, after a function-local VendorState would already be gone.
  static VendorState* s = new VendorState;  // NOLINT(cppcoreguidelines-owning-memory)
  return *s;
}

Instance* as_instance(void* vgpu_data) {
  return static_cast<Instance*>(vgpu_data);
}

// Runs body, turning any exception into -EIO (or the SystemError's errno) and a message.
template <typename Body>
int guarded(xvgpu_error* err, const char* what, Body&& body) {
  try {
    return body();
  } catch (const SystemError& e) {
    return xvgpu_set_error(err, -e.err(), "simgpu: %s: %s", what, e.what());
  } catch (const std::exception& e) {
    return xvgpu_set_error(err, -EIO, "simgpu: %s: %s", what, e.what());
  } catch (...) {
    return xvgpu_set_error(err, -EIO, "simgpu: %s failed", what);
  }
}

int op_available(void* pgpu_data, uint32_t type_index, uint32_t* count) {
  if (count == nullptr || type_index >= kTypeProfiles.size()) return -EINVAL;
  *count = static_cast<PhysicalGpu*>(pgpu_data)->available(type_index);
  return 0;
}

int parse_options(const xvgpu_create_info* info, const TypeProfile& profile, DeviceOptions& options,
                  xvgpu_error* err) {
  for (uint32_t i = 0; i < info->num_params; ++i) {
    const auto& p = info->params[i];
    const Knob* k = find_knob(p.knob);
    if (k == nullptr) return xvgpu_set_error(err, -EINVAL, "simgpu: unknown creation parameter %u", p.knob);
    const std::string why = store_knob(*k, {p.integer, p.text}, profile, options);
    if (!why.empty()) return xvgpu_set_error(err, -EINVAL, "simgpu: %s %s", k->name, why.c_str());
  }
  return 0;
}

int op_create(void* pgpu_data, xvgpu_instance* inst, const xvgpu_create_info* info, void** vgpu_data,
              xvgpu_error* err) {
  return guarded(err, "create", [&]() -> int {
    auto* pgpu = static_cast<PhysicalGpu*>(pgpu_data);
    if (info == nullptr || vgpu_data == nullptr || info->type_index >= kTypeProfiles.size()) {
      return xvgpu_set_error(err, -EINVAL, "simgpu: no such type");
    }
    const TypeProfile& profile = kTypeProfiles[info->type_index];
    DeviceOptions options;
    options.preferred = *parse_resolution(kDefaultPreferredMode, profile.max_width, profile.max_height);
    if (const int rc = parse_options(info, profile, options, err); rc < 0) return rc;

    const HostServices host(state().host, inst);
    std::span<std::byte> vram;
    if (const int rc = host.direct_bar(SimgpuDevice::kVramBar, vram); rc < 0) {
      return xvgpu_set_error(err, rc, "simgpu: the core gave no VRAM for BAR0 (%s)", std::strerror(-rc));
    }
    if (vram.size() != profile.vram_bytes) {
      return xvgpu_set_error(err, -EINVAL, "simgpu: BAR0 has %llu bytes, type %s needs %llu",
                             static_cast<unsigned long long>(vram.size()), profile.name,
                             static_cast<unsigned long long>(profile.vram_bytes));
    }
    if (!pgpu->reserve(info->type_index)) {
      return xvgpu_set_error(
          err, -ENOSPC,
          "simgpu: physical GPU %s has no room for another %s (VRAM or engine contexts used up)",
          pgpu->config().name.c_str(), profile.name);
    }
    auto instance = std::make_unique<Instance>();
    instance->pgpu = pgpu;
    instance->type_index = info->type_index;
    instance->uuid = std::string(info->uuid, strnlen(info->uuid, sizeof info->uuid));
    try {
      instance->device = std::make_unique<SimgpuDevice>(*pgpu, info->type_index, host, vram, options);
    } catch (...) {
      pgpu->unreserve(info->type_index);
      throw;
    }
    {
      std::lock_guard lock(state().registry_mu);
      state().by_uuid[instance->uuid] = instance.get();
    }
    *vgpu_data = instance.release();
    return 0;
  });
}

int op_destroy(void* vgpu_data, xvgpu_error* err) {
  return guarded(err, "destroy", [&]() -> int {
    std::unique_ptr<Instance> instance(as_instance(vgpu_data));
    {
      std::lock_guard lock(state().registry_mu);
      auto it = state().by_uuid.find(instance->uuid);
      if (it != state().by_uuid.end() && it->second == instance.get()) state().by_uuid.erase(it);
    }
    instance->device.reset();
    instance->pgpu->unreserve(instance->type_index);
    return 0;
  });
}

int op_start(void* vgpu_data, const xvgpu_domain_info* /*domain*/, xvgpu_error* err) {
  return guarded(err, "start", [&]() -> int {
    as_instance(vgpu_data)->device->start();
    return 0;
  });
}

int op_shutdown(void* /*vgpu_data*/, xvgpu_error* /*err*/) {
  // The core drained the worker; registers, engine and VRAM are kept for a restart.
  return 0;
}

int op_reset(void* vgpu_data, xvgpu_error* err) {
  return guarded(err, "reset", [&]() -> int {
    as_instance(vgpu_data)->device->reset();
    return 0;
  });
}

int op_read(void* vgpu_data, const xvgpu_access* access, uint64_t* value) {
  if (access == nullptr || value == nullptr) return -EINVAL;
  try {
    return as_instance(vgpu_data)->device->read(access->region, access->offset, access->size, *value)
               ? 0
               : -EINVAL;
  } catch (...) {
    return -EIO;
  }
}

int op_write(void* vgpu_data, const xvgpu_access* access, uint64_t value) {
  if (access == nullptr) return -EINVAL;
  try {
    return as_instance(vgpu_data)->device->write(access->region, access->offset, access->size, value)
               ? 0
               : -EINVAL;
  } catch (...) {
    return -EIO;
  }
}

void op_irq_changed(void* vgpu_data, const xvgpu_irq_state* irq) {
  if (irq == nullptr) return;
  as_instance(vgpu_data)->device->set_msi_enabled(irq->msi_enabled != 0 && irq->msi_vectors_enabled > 0);
}

int op_read_stats(void* vgpu_data, uint64_t* values, uint32_t count) {
  if (values == nullptr && count != 0) return -EINVAL;
  as_instance(vgpu_data)->device->read_stats(std::span<uint64_t>(values, count));
  return 0;
}

int op_knob_get(void* vgpu_data, uint32_t knob, int64_t* integer, char* text, size_t text_len) {
  const Knob* k = find_knob(knob);
  if (k == nullptr) return -EINVAL;
  const auto& o = as_instance(vgpu_data)->device->options();
  if (k->load_text == nullptr) {
    if (integer == nullptr) return -EINVAL;
    *integer = k->load(o);
    return 0;
  }
  if (text == nullptr || text_len == 0) return -EINVAL;
  const std::string value = k->load_text(o);
  if (value.size() + 1 > text_len) return -ENOSPC;
  std::memcpy(text, value.c_str(), value.size() + 1);
  return 0;
}

int op_knob_set(void* vgpu_data, const xvgpu_knob_value* value, xvgpu_error* err) {
  if (value == nullptr) return xvgpu_set_error(err, -EINVAL, "simgpu: no knob value");
  const Knob* k = find_knob(value->knob);
  if (k == nullptr) return xvgpu_set_error(err, -EINVAL, "simgpu: no knob %u", value->knob);
  if ((k->flags & XVGPU_KNOB_RUNTIME) == 0) {
    return xvgpu_set_error(err, -EPERM, "simgpu: %s is fixed at creation (%s)", k->name, k->fixed_why);
  }
  return guarded(err, "knob_set", [&]() -> int {
    Instance& inst = *as_instance(vgpu_data);
    DeviceOptions options = inst.device->options();
    const std::string why =
        store_knob(*k, {value->integer, value->text}, kTypeProfiles[inst.type_index], options);
    if (!why.empty()) return xvgpu_set_error(err, -EINVAL, "simgpu: %s %s", k->name, why.c_str());
    inst.device->apply_options(options);
    return 0;
  });
}

int op_display_surface(void* vgpu_data, uint32_t head, xvgpu_display_surface* out) {
  if (out == nullptr || head != 0) return -EINVAL;
  try {
    const ScanoutSurface s = as_instance(vgpu_data)->device->scan_out();
    if (XVGPU_HAS_FIELD(out, xvgpu_display_surface, enabled)) out->enabled = s.enabled ? 1 : 0;
    if (XVGPU_HAS_FIELD(out, xvgpu_display_surface, fourcc)) out->fourcc = s.fourcc;
    if (XVGPU_HAS_FIELD(out, xvgpu_display_surface, width)) out->width = s.width;
    if (XVGPU_HAS_FIELD(out, xvgpu_display_surface, height)) out->height = s.height;
    if (XVGPU_HAS_FIELD(out, xvgpu_display_surface, stride)) out->stride = s.stride;
    if (XVGPU_HAS_FIELD(out, xvgpu_display_surface, bar)) out->bar = SimgpuDevice::kVramBar;
    if (XVGPU_HAS_FIELD(out, xvgpu_display_surface, offset)) out->offset = s.offset;
    return 0;
  } catch (...) {
    return -EIO;
  }
}

int op_save_state(void* vgpu_data, const xvgpu_stream* out, xvgpu_error* err) {
  return guarded(err, "save", [&]() -> int {
    if (out == nullptr || out->write == nullptr)
      return xvgpu_set_error(err, -EINVAL, "simgpu: no output stream");
    const auto image = as_instance(vgpu_data)->device->save();
    const int rc = out->write(out->ctx, image.data(), image.size());
    if (rc < 0) return xvgpu_set_error(err, rc, "simgpu: writing the state failed: %s", std::strerror(-rc));
    return 0;
  });
}

int op_restore_state(void* vgpu_data, const xvgpu_stream* in, xvgpu_error* err) {
  return guarded(err, "restore", [&]() -> int {
    if (in == nullptr || in->read == nullptr) return xvgpu_set_error(err, -EINVAL, "simgpu: no input stream");
    // The image is small (registers only; the core carries VRAM): bound what we accept.
    constexpr size_t kMaxImage = size_t{64} * 1024;
    std::vector<uint8_t> image;
    std::array<uint8_t, 4096> chunk{};
    for (;;) {
      const int64_t n = in->read(in->ctx, chunk.data(), chunk.size());
      if (n < 0) {
        return xvgpu_set_error(err, static_cast<int>(n), "simgpu: reading the state failed: %s",
                               std::strerror(static_cast<int>(-n)));
      }
      if (n == 0) break;
      if (static_cast<uint64_t>(n) > chunk.size() || image.size() + static_cast<size_t>(n) > kMaxImage) {
        return xvgpu_set_error(err, -EINVAL, "simgpu: state image is larger than %zu bytes", kMaxImage);
      }
      image.insert(image.end(), chunk.begin(), chunk.begin() + n);
    }
    as_instance(vgpu_data)->device->restore(image);
    return 0;
  });
}

const xvgpu_device_ops kOps = [] {
  xvgpu_device_ops ops{};
  ops.struct_size = XVGPU_INIT(xvgpu_device_ops);
  ops.available_instances = op_available;
  ops.create = op_create;
  ops.destroy = op_destroy;
  ops.start = op_start;
  ops.shutdown = op_shutdown;
  ops.reset = op_reset;
  ops.read = op_read;
  ops.write = op_write;
  ops.irq_changed = op_irq_changed;
  ops.read_stats = op_read_stats;
  ops.knob_get = op_knob_get;
  ops.knob_set = op_knob_set;
  ops.display_surface = op_display_surface;
  ops.save_state = op_save_state;
  ops.restore_state = op_restore_state;
  return ops;
}();

int vendor_init(const xvgpu_host_api* host, xvgpu_registrar* reg, xvgpu_error* err) {
  return guarded(err, "init", [&]() -> int {
    auto& s = state();
    if (host == nullptr || host->abi_major != XVGPU_VENDOR_ABI_MAJOR) {
      return xvgpu_set_error(err, -EINVAL, "simgpu: host ABI major %u, simgpu was built for %u",
                             host != nullptr ? host->abi_major : 0, XVGPU_VENDOR_ABI_MAJOR);
    }
    if (!s.pgpus.empty()) return xvgpu_set_error(err, -EBUSY, "simgpu: already initialised");
    const char* env = std::getenv("XVGPU_SIMGPU");
    const auto configs = parse_physical_gpus(env != nullptr && *env != '\0' ? env : kDefaultPhysicalGpus);
    s.host = host;
    for (auto cfg : configs) {
      cfg.arbiter_dir = default_arbiter_dir();
      auto pgpu = std::make_unique<PhysicalGpu>(cfg);
      pgpu->set_logger([host](int level, const std::string& message) {
        if (host->log != nullptr) host->log(nullptr, level, message.c_str());
      });
      pgpu->open_arbiter();
      const int rc = host->register_pgpu(reg, pgpu->descriptor(), &kOps, pgpu.get(), err);
      if (rc < 0) {
        s.pgpus.clear();
        return rc;
      }
      s.pgpus.push_back(std::move(pgpu));
    }
    return 0;
  });
}

void vendor_fini() {
  auto& s = state();
  std::lock_guard lock(s.registry_mu);
  s.by_uuid.clear();
  s.pgpus.clear();
  s.host = nullptr;
}

const xvgpu_vendor kVendor = [] {
  xvgpu_vendor v{};
  v.struct_size = XVGPU_INIT(xvgpu_vendor);
  v.abi_major = XVGPU_VENDOR_ABI_MAJOR;
  v.abi_minor = XVGPU_VENDOR_ABI_MINOR;
  v.name = "simgpu";
  v.version = "1.0";
  v.init = vendor_init;
  v.fini = vendor_fini;
  return v;
}();

}  // namespace

const xvgpu_vendor* simgpu_vendor() {
  return &kVendor;
}

bool with_device(const std::string& uuid, const std::function<void(SimgpuDevice&)>& fn) {
  auto& s = state();
  std::lock_guard lock(s.registry_mu);
  auto it = s.by_uuid.find(uuid);
  if (it == s.by_uuid.end() || !it->second->device) return false;
  fn(*it->second->device);
  return true;
}

}  // namespace xvgpu::simgpu
