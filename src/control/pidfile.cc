#include "control/pidfile.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <string>

#include "common/error.h"

namespace xvgpu::dm {

std::optional<int> pidfile_owner(const std::string& path) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) return std::nullopt;
  if (::flock(fd.get(), LOCK_SH | LOCK_NB) == 0) return std::nullopt;  // nobody holds it: stale
  char buf[32] = {};
  const ssize_t n = ::pread(fd.get(), buf, sizeof(buf) - 1, 0);
  if (n <= 0) return 0;
  return std::atoi(buf);
}

PidFile::PidFile(std::string path) : path_(std::move(path)) {
  if (auto owner = pidfile_owner(path_)) {
    throw Error("pidfile " + path_ + " is held by running process " + std::to_string(*owner));
  }
  const std::filesystem::path p(path_);
  name_ = p.filename().string();
  dir_fd_.reset(::open(p.parent_path().c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  check_errno(dir_fd_.get(), "opening the directory of pidfile " + path_);
  const std::string tmp = name_ + ".tmp." + std::to_string(::getpid());
  fd_.reset(::openat(dir_fd_.get(), tmp.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
  check_errno(fd_.get(), "creating pidfile " + path_);
  const std::string text = std::to_string(::getpid()) + "\n";
  if (::flock(fd_.get(), LOCK_EX | LOCK_NB) != 0 ||
      ::write(fd_.get(), text.data(), text.size()) != static_cast<ssize_t>(text.size()) ||
      ::renameat(dir_fd_.get(), tmp.c_str(), dir_fd_.get(), name_.c_str()) != 0) {
    const int e = errno;
    ::unlinkat(dir_fd_.get(), tmp.c_str(), 0);
    throw SystemError(e, "writing pidfile " + path_);
  }
}

void PidFile::remove() noexcept {
  if (dir_fd_ && fd_) {
    // Only if the name still refers to our file.
    struct stat mine {};
    struct stat there {};
    if (::fstat(fd_.get(), &mine) == 0 && ::fstatat(dir_fd_.get(), name_.c_str(), &there, 0) == 0 &&
        mine.st_ino == there.st_ino && mine.st_dev == there.st_dev) {
      ::unlinkat(dir_fd_.get(), name_.c_str(), 0);
    }
  }
}

PidFile::~PidFile() {
  remove();
}

}  // namespace xvgpu::dm
