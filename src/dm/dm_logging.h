// spdlog set-up for xvgpu-dm: stderr by default, a file, or syslog. On stderr, each line carries its syslog
// priority when stderr is the journal (systemd), and a log that is a regular file is kept within a size
// bound.
#pragma once

#include <cstdint>
#include <mutex>
#include <optional>
#include <string>

#include <spdlog/common.h>
#include <spdlog/sinks/base_sink.h>

#include "common/unique_fd.h"

namespace xvgpu::dm {

// Replaces the default logger; a log that is a regular file stays within max_bytes. Throws Error when the log
// file cannot be opened.
void setup_logging(const std::string& level, const std::optional<std::string>& file, bool syslog, int domid,
                   uint64_t max_bytes);

// Whether `fd` is the stream systemd connected to the journal: journal_stream is $JOURNAL_STREAM ("DEV:INO"
// of that stream, which a child inherits even when its stderr goes elsewhere), nullptr when unset.
bool is_journal_stream(int fd, const char* journal_stream);

// The syslog priority (LOG_ERR, ...) of a spdlog level.
int syslog_priority(spdlog::level::level_enum level);

// Writes formatted lines to a file descriptor. When the descriptor is a regular file (the log xvgpuctl opened
// for the run, or --log-file), the file is kept within max_bytes in place: over the bound, the lines after
// the first ones (start-up) and before the latest ones are cut out and a line says so. In place because the
// process may have left the file's directory behind (--chroot, --runas) and other writers (stderr) share the
// file.
class BoundedFdSink final : public spdlog::sinks::base_sink<std::mutex> {
 public:
  BoundedFdSink(int fd, uint64_t max_bytes);
  // Writes to a descriptor of its own (--log-file).
  BoundedFdSink(UniqueFd fd, uint64_t max_bytes);
  // Bytes cut out so far.
  [[nodiscard]] uint64_t dropped_bytes() const { return dropped_; }

 protected:
  void sink_it_(const spdlog::details::log_msg& msg) override;
  void flush_() override {}

 private:
  void trim();

  UniqueFd owned_;
  int fd_;
  uint64_t max_bytes_;
  UniqueFd file_;      // a second, non-appending descriptor of the file (trimming); unset: not a regular file
  uint64_t size_ = 0;  // the file's size as last known
  uint64_t head_ = 0;  // bytes kept at the start (set at the first trim)
  uint64_t dropped_ = 0;
};

}  // namespace xvgpu::dm
