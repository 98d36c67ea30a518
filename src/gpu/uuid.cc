#include "gpu/uuid.h"

namespace xvgpu::gpu {

std::optional<std::string> normalize_uuid(std::string_view text) {
  if (text.size() != 36) {
    return std::nullopt;
  }
  std::string out(text);
  for (size_t i = 0; i < out.size(); ++i) {
    char& c = out[i];
    if (i == 8 || i == 13 || i == 18 || i == 23) {
      if (c != '-') {
        return std::nullopt;
      }
      continue;
    }
    if (c >= 'A' && c <= 'F') {
      c = static_cast<char>(c - 'A' + 'a');
    }
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) {
      return std::nullopt;
    }
  }
  return out;
}

bool is_canonical_uuid(std::string_view text) {
  const auto n = normalize_uuid(text);
  return n && *n == text;
}

}  // namespace xvgpu::gpu
