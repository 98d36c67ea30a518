// Xen's rangeset, as ioreq servers use it: inclusive [start, end] ranges, merged when
// adjacent, with a cap on how many distinct ranges a set may hold (MAX_NR_IO_RANGES).
#pragma once

#include <cerrno>
#include <cstdint>
#include <map>

namespace xensim {

class RangeSet {
 public:
  explicit RangeSet(size_t limit = 256) : limit_(limit) {}

  [[nodiscard]] bool overlaps(uint64_t s, uint64_t e) const {
    auto it = r_.upper_bound(e);  // first range starting after e
    if (it == r_.begin()) {
      return false;
    }
    --it;
    return it->second >= s;
  }
  [[nodiscard]] bool contains(uint64_t s, uint64_t e) const {
    auto it = r_.upper_bound(s);
    if (it == r_.begin()) {
      return false;
    }
    --it;
    return it->first <= s && it->second >= e;
  }
  // 0 or -errno (ENOSPC when the limit is reached).
  int add(uint64_t s, uint64_t e) {
    // Merge with neighbours that touch [s, e].
    auto it = r_.upper_bound(s);
    if (it != r_.begin()) {
      auto prev = std::prev(it);
      if (prev->second != UINT64_MAX && prev->second + 1 >= s) {
        s = prev->first;
        if (prev->second > e) {
          e = prev->second;
        }
        it = r_.erase(prev);
      }
    }
    while (it != r_.end() && (e == UINT64_MAX || it->first <= e + 1)) {
      if (it->second > e) {
        e = it->second;
      }
      it = r_.erase(it);
    }
    if (r_.size() >= limit_) {
      return -ENOSPC;
    }
    r_.emplace(s, e);
    return 0;
  }
  // Caller checked contains(s, e).
  int remove(uint64_t s, uint64_t e) {
    auto it = std::prev(r_.upper_bound(s));
    const uint64_t os = it->first, oe = it->second;
    r_.erase(it);
    if (os < s) {
      r_.emplace(os, s - 1);
    }
    if (oe > e) {
      if (r_.size() >= limit_) {
        return -ENOSPC;
      }
      r_.emplace(e + 1, oe);
    }
    return 0;
  }
  [[nodiscard]] size_t size() const { return r_.size(); }

 private:
  std::map<uint64_t, uint64_t> r_;
  size_t limit_;
};

}  // namespace xensim
