// Failure injection: make a named Xen library call fail with a chosen errno on its Nth use
// (or from its Nth use on). Specs look like "xenforeignmemory_map_resource:EOPNOTSUPP:1"
// or "xenevtchn_notify:EIO:3+"; several are separated by commas (env XENSIM_FAIL).
#pragma once

#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>

namespace xensim {

struct FailureRule {
  int err = 0;
  uint64_t nth = 1;     // 1-based use that fails
  bool sticky = false;  // fail every use from nth on
};

class FailureInjector {
 public:
  void add(std::string name, FailureRule rule);
  void clear();
  // Adds the rules of a spec list; returns an error message for a malformed one.
  std::optional<std::string> add_spec(std::string_view spec);
  // Counts a use of `name`; returns the errno to fail it with, or 0.
  int check(std::string_view name);

 private:
  struct Entry {
    FailureRule rule;
    uint64_t uses = 0;
  };
  std::mutex mu_;
  std::map<std::string, Entry, std::less<>> rules_;
};

// errno name ("EIO") or number ("5") -> value; 0 if unknown.
int errno_from_name(std::string_view name);

// The process-wide injector fed from env XENSIM_FAIL, checked by every C API entry point.
FailureInjector& process_failures();

}  // namespace xensim
