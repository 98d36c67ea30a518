// The PID file of a running device model. It appears only once the device model is ready (an
// atomic rename), stays locked (flock) for the process's life, and is removed on exit; a file
// that nobody locks is stale (its process was killed) and is replaced.
#pragma once

#include <optional>
#include <string>

#include "common/unique_fd.h"

namespace xvgpu::dm {

// The pid of the live process holding `path`, if any.
std::optional<int> pidfile_owner(const std::string& path);

class PidFile {
 public:
  // Throws Error when a live process holds the file, SystemError on I/O errors.
  explicit PidFile(std::string path);
  ~PidFile();
  PidFile(const PidFile&) = delete;
  PidFile& operator=(const PidFile&) = delete;
  // Unlinks the file now (still locked until destruction).
  void remove() noexcept;

 private:
  std::string path_;
  UniqueFd fd_;
  UniqueFd dir_fd_;  // unlink works after chroot, through the directory opened before it
  std::string name_;
};

}  // namespace xvgpu::dm
