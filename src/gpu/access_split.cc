#include "gpu/access_split.h"

namespace xvgpu::gpu {

namespace {
bool valid_size(unsigned s) {
  return s == 1 || s == 2 || s == 4 || s == 8;
}
}  // namespace

AccessPlan plan_access(uint64_t offset, unsigned size, uint64_t region_size, unsigned access_min,
                       unsigned access_max) {
  AccessPlan plan;
  if (access_min == 0) {
    access_min = 1;
  }
  if (access_max == 0) {
    access_max = 8;
  }
  if (!valid_size(size) || !valid_size(access_min) || !valid_size(access_max) || access_min > access_max) {
    return plan;
  }
  if (offset >= region_size || size > region_size - offset) {
    return plan;
  }
  uint64_t cur = offset;
  unsigned left = size;
  while (left != 0) {
    unsigned piece = access_max;
    while (piece > left || cur % piece != 0) {
      piece >>= 1;
    }
    if (piece < access_min || plan.count == plan.pieces.size()) {
      return plan;
    }
    plan.pieces[plan.count++] =
        AccessPiece{cur, static_cast<uint8_t>(piece), static_cast<uint8_t>(8 * (cur - offset))};
    cur += piece;
    left -= piece;
  }
  plan.refused = false;
  return plan;
}

}  // namespace xvgpu::gpu
