#include "dm/server_record.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <set>
#include <string>

#include "common/error.h"

namespace xvgpu::dm {

namespace {

std::filesystem::path dir_of(const std::filesystem::path& state_dir) {
  return state_dir / "ioreq-servers";
}

// "dom<D>-<pid>" -> pid, or 0 when the name is not a record of domid.
long pid_of(const std::string& name, Domid domid) {
  const std::string prefix = "dom" + std::to_string(domid.value) + "-";
  if (name.rfind(prefix, 0) != 0) return 0;
  try {
    size_t used = 0;
    const long pid = std::stol(name.substr(prefix.size()), &used);
    return used == name.size() - prefix.size() && pid > 0 ? pid : 0;
  } catch (const std::exception&) {
    return 0;
  }
}

}  // namespace

std::vector<StaleServer> find_stale_servers(const std::filesystem::path& state_dir, Domid domid) {
  std::vector<StaleServer> stale;
  std::set<uint16_t> live_ids;
  std::error_code ec;
  for (auto it = std::filesystem::directory_iterator(dir_of(state_dir), ec);
       !ec && it != std::filesystem::directory_iterator(); it.increment(ec)) {
    const long pid = pid_of(it->path().filename().string(), domid);
    if (pid == 0) continue;
    UniqueFd fd(::open(it->path().c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
    if (!fd) continue;
    char text[16] = {};
    const ssize_t n = ::read(fd.get(), text, sizeof text - 1);
    unsigned long id = 0;
    try {
      id = n > 0 ? std::stoul(text) : 0x10000;
    } catch (const std::exception&) {
      id = 0x10000;
    }
    const bool held = ::flock(fd.get(), LOCK_SH | LOCK_NB) != 0;
    if (held) {
      if (id <= 0xffff) live_ids.insert(static_cast<uint16_t>(id));
    } else if (id <= 0xffff) {
      stale.push_back({it->path(), pid, static_cast<uint16_t>(id)});
    } else {
      std::filesystem::remove(it->path(), ec);  // unreadable and unheld: nothing to recover
    }
  }
  std::erase_if(stale, [&](const StaleServer& s) { return live_ids.count(s.id) != 0; });
  return stale;
}

ServerRecord::ServerRecord(const std::filesystem::path& state_dir, Domid domid, uint16_t id) {
  std::error_code ec;
  std::filesystem::create_directories(dir_of(state_dir), ec);
  file_ = dir_of(state_dir) / ("dom" + std::to_string(domid.value) + "-" + std::to_string(::getpid()));
  fd_.reset(::open(file_.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600));
  check_errno(fd_.get(), "creating " + file_.string());
  check_errno(::flock(fd_.get(), LOCK_EX | LOCK_NB), "locking " + file_.string());
  const std::string text = std::to_string(id) + "\n";
  check_errno(static_cast<int>(::write(fd_.get(), text.data(), text.size())), "writing " + file_.string());
}

ServerRecord::~ServerRecord() {
  std::error_code ec;
  std::filesystem::remove(file_, ec);  // may fail after --chroot: then the next start finds it stale
}

}  // namespace xvgpu::dm
