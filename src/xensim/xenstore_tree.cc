#include "xensim/xenstore_tree.h"

namespace xensim {

bool xs_path_under(const std::string& path, const std::string& base) {
  if (base == "/") {
    return true;
  }
  if (path.size() < base.size() || path.compare(0, base.size(), base) != 0) {
    return false;
  }
  return path.size() == base.size() || path[base.size()] == '/';
}

std::optional<std::string> XenstoreTree::read(const std::string& path) const {
  auto it = nodes_.find(path);
  if (it == nodes_.end()) {
    return std::nullopt;
  }
  return it->second;
}

void XenstoreTree::write(const std::string& path, std::string value) {
  for (size_t i = 1; i < path.size(); ++i) {
    if (path[i] == '/') {
      nodes_.try_emplace(path.substr(0, i));
    }
  }
  nodes_[path] = std::move(value);
  notify(path);
}

bool XenstoreTree::rm(const std::string& path) {
  auto it = nodes_.find(path);
  if (it == nodes_.end()) {
    return false;
  }
  while (it != nodes_.end() && xs_path_under(it->first, path)) {
    it = nodes_.erase(it);
  }
  notify(path);
  return true;
}

std::optional<std::vector<std::string>> XenstoreTree::directory(const std::string& path) const {
  if (path != "/" && !nodes_.contains(path)) {
    return std::nullopt;
  }
  std::vector<std::string> out;
  const std::string prefix = path == "/" ? "/" : path + "/";
  for (auto it = nodes_.lower_bound(prefix); it != nodes_.end() && it->first.starts_with(prefix); ++it) {
    const std::string rest = it->first.substr(prefix.size());
    if (!rest.empty() && rest.find('/') == std::string::npos) {
      out.push_back(rest);
    }
  }
  return out;
}

void XenstoreTree::write_special(const std::string& name) {
  for (auto& w : watches_) {
    if (w.path == name) {
      w.fire(name, w.token);
    }
  }
}

void XenstoreTree::watch(const void* owner, const std::string& path, const std::string& token, Fire fire) {
  fire(path, token);
  watches_.push_back(Watch{owner, path, token, std::move(fire)});
}

bool XenstoreTree::unwatch(const void* owner, const std::string& path, const std::string& token) {
  for (auto it = watches_.begin(); it != watches_.end(); ++it) {
    if (it->owner == owner && it->path == path && it->token == token) {
      watches_.erase(it);
      return true;
    }
  }
  return false;
}

void XenstoreTree::drop_owner(const void* owner) {
  std::erase_if(watches_, [owner](const Watch& w) { return w.owner == owner; });
}

void XenstoreTree::notify(const std::string& path) {
  for (auto& w : watches_) {
    if (xs_path_under(path, w.path) || xs_path_under(w.path, path)) {
      w.fire(path, w.token);
    }
  }
}

}  // namespace xensim
