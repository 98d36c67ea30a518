// A directory of the fuzzer process's own under the temporary directory (state directories,
// sockets), removed with everything in it when the process exits. libFuzzer ends through
// exit() after -runs=N, -max_total_time or a corpus replay, which runs static destructors: a
// function-local static of this type, constructed before the objects that use the directory,
// is destroyed after them. (A crash exits with _Exit or a signal and leaves it behind.)
#pragma once

#include <stdlib.h>

#include <filesystem>
#include <string>
#include <string_view>

#include "fuzz_input.h"

namespace xvgpu::fuzz {

class ProcessTempDir {
 public:
  // prefix: the name before mkdtemp's six random characters, e.g. "xvgpu-fuzz-ctl-".
  explicit ProcessTempDir(std::string_view prefix) {
    std::string tmpl = (std::filesystem::temp_directory_path() / prefix).string() + "XXXXXX";
    if (::mkdtemp(tmpl.data()) == nullptr) violation("mkdtemp");
    path_ = tmpl;
  }
  ~ProcessTempDir() {
    std::error_code ec;  // nothing to do about a failure at exit
    std::filesystem::remove_all(path_, ec);
  }
  ProcessTempDir(const ProcessTempDir&) = delete;
  ProcessTempDir& operator=(const ProcessTempDir&) = delete;

  [[nodiscard]] const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

}  // namespace xvgpu::fuzz
