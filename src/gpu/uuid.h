// vGPU and VM UUIDs in their canonical text form (8-4-4-4-12 lower-case hex).
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace xvgpu::gpu {

// Accepts upper or lower case; returns the lower-case canonical form, or nullopt.
std::optional<std::string> normalize_uuid(std::string_view text);
bool is_canonical_uuid(std::string_view text);

}  // namespace xvgpu::gpu
