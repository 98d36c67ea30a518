// A tiny xenstore: a tree of paths with string values and watches, enough for the
// device-model state keys (/local/domain/0/device-model/<domid>/state and friends).
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace xensim {

class XenstoreTree {
 public:
  using Fire = std::function<void(const std::string& path, const std::string& token)>;

  [[nodiscard]] std::optional<std::string> read(const std::string& path) const;
  // Creates missing parents (as xenstored does).
  void write(const std::string& path, std::string value);
  // false when the path does not exist (ENOENT).
  bool rm(const std::string& path);
  [[nodiscard]] std::optional<std::vector<std::string>> directory(const std::string& path) const;
  // Fires the watches of a special node ("@releaseDomain", "@introduceDomain"), which holds no value.
  void write_special(const std::string& name);

  // Watches are owned by `owner` (a session); a watch fires once when registered.
  void watch(const void* owner, const std::string& path, const std::string& token, Fire fire);
  bool unwatch(const void* owner, const std::string& path, const std::string& token);
  void drop_owner(const void* owner);

 private:
  struct Watch {
    const void* owner;
    std::string path, token;
    Fire fire;
  };
  void notify(const std::string& path);
  std::map<std::string, std::string> nodes_;
  std::vector<Watch> watches_;
};

// True when `path` is `base` or lies below it.
bool xs_path_under(const std::string& path, const std::string& base);

}  // namespace xensim
