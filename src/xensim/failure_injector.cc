#include "xensim/failure_injector.h"

#include <cerrno>
#include <charconv>
#include <cstdlib>
#include <cstring>
#include <mutex>

namespace xensim {

void FailureInjector::add(std::string name, FailureRule rule) {
  std::lock_guard lk(mu_);
  rules_[std::move(name)] = Entry{rule, 0};
}

void FailureInjector::clear() {
  std::lock_guard lk(mu_);
  rules_.clear();
}

int FailureInjector::check(std::string_view name) {
  std::lock_guard lk(mu_);
  if (rules_.empty()) {
    return 0;
  }
  auto it = rules_.find(name);
  if (it == rules_.end()) {
    return 0;
  }
  auto& e = it->second;
  ++e.uses;
  if (e.uses == e.rule.nth || (e.rule.sticky && e.uses > e.rule.nth)) {
    return e.rule.err;
  }
  return 0;
}

int errno_from_name(std::string_view name) {
  int v = 0;
  auto [p, ec] = std::from_chars(name.data(), name.data() + name.size(), v);
  if (ec == std::errc{} && p == name.data() + name.size()) {
    return v > 0 ? v : 0;
  }
  static constexpr struct {
    const char* n;
    int v;
  } kNames[] = {{"EPERM", EPERM},
                {"ENOENT", ENOENT},
                {"ESRCH", ESRCH},
                {"EINTR", EINTR},
                {"EIO", EIO},
                {"ENXIO", ENXIO},
                {"E2BIG", E2BIG},
                {"EBADF", EBADF},
                {"EAGAIN", EAGAIN},
                {"ENOMEM", ENOMEM},
                {"EACCES", EACCES},
                {"EFAULT", EFAULT},
                {"EBUSY", EBUSY},
                {"EEXIST", EEXIST},
                {"ENODEV", ENODEV},
                {"EINVAL", EINVAL},
                {"ENOSPC", ENOSPC},
                {"ENOSYS", ENOSYS},
                {"ENOTTY", ENOTTY},
                {"ERANGE", ERANGE},
                {"EOPNOTSUPP", EOPNOTSUPP},
                {"ETIMEDOUT", ETIMEDOUT},
                {"ECONNRESET", ECONNRESET},
                {"EOVERFLOW", EOVERFLOW}};
  for (const auto& n : kNames) {
    if (name == n.n) {
      return n.v;
    }
  }
  return 0;
}

std::optional<std::string> FailureInjector::add_spec(std::string_view spec) {
  while (!spec.empty()) {
    const auto comma = spec.find(',');
    std::string_view one = spec.substr(0, comma);
    spec = comma == std::string_view::npos ? std::string_view{} : spec.substr(comma + 1);
    if (one.empty()) {
      continue;
    }
    const auto c1 = one.find(':');
    const auto c2 = c1 == std::string_view::npos ? c1 : one.find(':', c1 + 1);
    if (c2 == std::string_view::npos) {
      return "malformed failure spec '" + std::string(one) + "' (want name:ERRNO:N[+])";
    }
    FailureRule rule;
    rule.err = errno_from_name(one.substr(c1 + 1, c2 - c1 - 1));
    std::string_view n = one.substr(c2 + 1);
    if (!n.empty() && n.back() == '+') {
      rule.sticky = true;
      n.remove_suffix(1);
    }
    auto [p, ec] = std::from_chars(n.data(), n.data() + n.size(), rule.nth);
    if (rule.err == 0 || ec != std::errc{} || p != n.data() + n.size() || rule.nth == 0) {
      return "malformed failure spec '" + std::string(one) + "' (unknown errno or N not >= 1)";
    }
    add(std::string(one.substr(0, c1)), rule);
  }
  return std::nullopt;
}

FailureInjector& process_failures() {
  static FailureInjector inj;
  static std::once_flag once;
  std::call_once(once, [] {
    if (const char* env = std::getenv("XENSIM_FAIL")) {
      (void)inj.add_spec(env);
    }
  });
  return inj;
}

}  // namespace xensim
