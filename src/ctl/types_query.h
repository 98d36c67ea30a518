// `xvgpuctl types`: the physical GPUs the vendors (built-in and plugins) register, their vGPU
// types with attributes, and how many more instances of each fit on this host now.
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "control/vgpu_spec.h"

namespace xvgpu::ctl {

// {"gpus": [{"name", "vendor", "types": [{"name", "description", "attributes": {...}, "available"}]}]}
nlohmann::json query_types(const std::vector<std::string>& vendor_plugins);

// Throws Error naming the problem when the spec's type is offered by no physical GPU, or a knob
// is not a valid creation-time knob of it.
void check_spec_against_vendors(const VgpuSpec& spec, const std::vector<std::string>& vendor_plugins);

}  // namespace xvgpu::ctl
