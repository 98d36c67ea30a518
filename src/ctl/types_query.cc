#include "ctl/types_query.h"

#include "common/error.h"

namespace xvgpu::ctl {

// Replaced by the query through the vGPU core (src/gpu) once it lands.
nlohmann::json query_types(const std::vector<std::string>& /*vendor_plugins*/) {
  throw Error("types: the vGPU core is not available in this build");
}

void check_type_exists(const std::string& /*type*/, const std::vector<std::string>& /*vendor_plugins*/) {}

}  // namespace xvgpu::ctl
