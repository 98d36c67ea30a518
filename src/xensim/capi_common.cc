#include "xensim/capi_common.h"

#include <sys/mman.h>

namespace xensim {

void* map_pages(int memfd, std::span<const uint64_t> pages, std::span<const int32_t> errs, int prot,
                void* addr, int flags) {
  const size_t n = pages.size();
  constexpr size_t kPg = 4096;
  void* base = ::mmap(addr, n * kPg, PROT_NONE, (flags & MAP_FIXED) | MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (base == MAP_FAILED) {
    return nullptr;
  }
  auto* b = static_cast<uint8_t*>(base);
  size_t i = 0;
  while (i < n) {
    if (!errs.empty() && errs[i] != 0) {
      ++i;
      continue;
    }
    // Coalesce runs of consecutive memfd pages into one mmap.
    size_t j = i + 1;
    while (j < n && (errs.empty() || errs[j] == 0) && pages[j] == pages[j - 1] + 1) {
      ++j;
    }
    void* m = ::mmap(b + i * kPg, (j - i) * kPg, prot, MAP_SHARED | MAP_FIXED, memfd,
                     static_cast<off_t>(pages[i] * kPg));
    if (m == MAP_FAILED) {
      const int e = errno;
      ::munmap(base, n * kPg);
      errno = e;
      return nullptr;
    }
    i = j;
  }
  return base;
}

}  // namespace xensim
