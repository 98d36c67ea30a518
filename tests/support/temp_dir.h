// A directory of this process's own under the temporary directory, removed with everything in it
// when the object is destroyed: test state directories, and a fuzzer's state directory held in a
// function-local static (libFuzzer ends through exit(), which runs static destructors; a crash
// leaves the directory behind).
#pragma once

#include <stdlib.h>

#include <cerrno>
#include <filesystem>
#include <string>
#include <string_view>
#include <system_error>

#include "common/error.h"

namespace xvgpu {

class TempDir {
 public:
  // prefix: the name before mkdtemp's six random characters, e.g. "xvgpu-fuzz-ctl-".
  explicit TempDir(std::string_view prefix = "xvgpu-") {
    std::string tmpl = (std::filesystem::temp_directory_path() / prefix).string() + "XXXXXX";
    if (::mkdtemp(tmpl.data()) == nullptr) throw SystemError(errno, "mkdtemp " + tmpl);
    path_ = tmpl;
  }
  ~TempDir() {
    std::error_code ec;  // nothing to do about a failure here
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  [[nodiscard]] const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

}  // namespace xvgpu
