// `xvgpuctl types`: the physical GPUs the vendors (built-in and plugins) register, their vGPU
// types with attributes, and how many more instances of each fit on this host now.
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace xvgpu::ctl {

// {"gpus": [{"name", "vendor", "types": [{"name", "description", "attributes": {...}, "available"}]}]}
nlohmann::json query_types(const std::vector<std::string>& vendor_plugins);

// Throws Error naming the problem when `type` is offered by no physical GPU.
void check_type_exists(const std::string& type, const std::vector<std::string>& vendor_plugins);

}  // namespace xvgpu::ctl
