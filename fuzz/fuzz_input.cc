#include "fuzz_input.h"

#include <cstdio>
#include <cstdlib>

namespace xvgpu::fuzz {

void violation(const char* what) {
  std::fprintf(stderr, "fuzz invariant violated: %s\n", what);
  std::abort();
}

}  // namespace xvgpu::fuzz
