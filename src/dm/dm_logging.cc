#include "dm/dm_logging.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <syslog.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <string_view>
#include <vector>

#include <fmt/format.h>
#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/syslog_sink.h>
#include <spdlog/spdlog.h>

#include "common/error.h"

namespace xvgpu::dm {

namespace {

// %* in a pattern: the sd-daemon prefix "<N>" journald reads as the line's priority (sd-daemon(3)).
class PriorityFlag final : public spdlog::custom_flag_formatter {
 public:
  void format(const spdlog::details::log_msg& msg, const std::tm& /*tm*/,
              spdlog::memory_buf_t& dest) override {
    fmt::format_to(std::back_inserter(dest), "<{}>", syslog_priority(msg.level));
  }
  [[nodiscard]] std::unique_ptr<custom_flag_formatter> clone() const override {
    return std::make_unique<PriorityFlag>();
  }
};

bool write_all(int fd, const char* p, std::size_t n) {
  while (n > 0) {
    const ssize_t w = ::write(fd, p, n);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return false;
    p += w;
    n -= static_cast<std::size_t>(w);
  }
  return true;
}

bool pwrite_all(int fd, const char* p, std::size_t n, off_t at) {
  while (n > 0) {
    const ssize_t w = ::pwrite(fd, p, n, at);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return false;
    p += w;
    at += w;
    n -= static_cast<std::size_t>(w);
  }
  return true;
}

bool pread_all(int fd, char* p, std::size_t n, off_t at) {
  while (n > 0) {
    const ssize_t r = ::pread(fd, p, n, at);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return false;
    p += r;
    at += r;
    n -= static_cast<std::size_t>(r);
  }
  return true;
}

}  // namespace

bool is_journal_stream(int fd, const char* journal_stream) {
  if (journal_stream == nullptr) return false;
  unsigned long long dev = 0;
  unsigned long long ino = 0;
  char tail = 0;
  if (std::sscanf(journal_stream, "%llu:%llu%c", &dev, &ino, &tail) != 2) return false;
  struct stat st {};
  if (::fstat(fd, &st) != 0) return false;
  return static_cast<unsigned long long>(st.st_dev) == dev &&
         static_cast<unsigned long long>(st.st_ino) == ino;
}

int syslog_priority(spdlog::level::level_enum level) {
  switch (level) {
    case spdlog::level::trace:
    case spdlog::level::debug:
      return LOG_DEBUG;
    case spdlog::level::info:
      return LOG_INFO;
    case spdlog::level::warn:
      return LOG_WARNING;
    case spdlog::level::err:
      return LOG_ERR;
    case spdlog::level::critical:
      return LOG_CRIT;
    default:
      return LOG_INFO;
  }
}

BoundedFdSink::BoundedFdSink(int fd, uint64_t max_bytes) : fd_(fd), max_bytes_(max_bytes) {
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) return;
  // A descriptor of its own: writes through fd (O_APPEND) always land at the end, whatever offset they name.
  file_.reset(::open(fmt::format("/proc/self/fd/{}", fd).c_str(), O_RDWR | O_CLOEXEC));
  size_ = static_cast<uint64_t>(st.st_size);
}

BoundedFdSink::BoundedFdSink(UniqueFd fd, uint64_t max_bytes) : BoundedFdSink(fd.get(), max_bytes) {
  owned_ = std::move(fd);
}

void BoundedFdSink::sink_it_(const spdlog::details::log_msg& msg) {
  spdlog::memory_buf_t line;
  formatter_->format(msg, line);
  if (!write_all(fd_, line.data(), line.size())) return;
  size_ += line.size();
  if (file_ && size_ > max_bytes_) trim();
}

void BoundedFdSink::trim() {
  struct stat st {};
  if (::fstat(file_.get(), &st) != 0) return;
  const auto size = static_cast<uint64_t>(st.st_size);  // other writers of the file (stderr) count too
  size_ = size;
  if (size <= max_bytes_) return;
  // Start-up lines (vendors, vGPUs, the domain) stay: they say what this run was.
  if (head_ == 0) {
    std::vector<char> head(std::min<uint64_t>(max_bytes_ / 8, size));
    if (!pread_all(file_.get(), head.data(), head.size(), 0)) return;
    const auto nl = std::string_view(head.data(), head.size()).rfind('\n');
    head_ = nl == std::string_view::npos ? head.size() : nl + 1;
  }
  // Then the latest lines, from a line's start, about half the bound.
  uint64_t from = std::max(head_, size - max_bytes_ / 2);
  std::vector<char> tail(size - from);
  if (!pread_all(file_.get(), tail.data(), tail.size(), static_cast<off_t>(from))) return;
  std::size_t skip = 0;
  if (from > head_) {
    const auto nl = std::string_view(tail.data(), tail.size()).find('\n');
    skip = nl == std::string_view::npos ? tail.size() : nl + 1;
  }
  const uint64_t cut = from + skip - head_;
  dropped_ += cut;
  const std::string marker = fmt::format(
      "xvgpu-dm: [log bound {} bytes: {} bytes of lines cut here, {} in all]\n", max_bytes_, cut, dropped_);
  const auto at = static_cast<off_t>(head_);
  if (!pwrite_all(file_.get(), marker.data(), marker.size(), at) ||
      !pwrite_all(file_.get(), tail.data() + skip, tail.size() - skip,
                  at + static_cast<off_t>(marker.size()))) {
    return;
  }
  size_ = head_ + marker.size() + tail.size() - skip;
  // Appending writers (fd_, stderr) continue at the new end.
  if (::ftruncate(file_.get(), static_cast<off_t>(size_)) != 0) size_ = size;
}

void setup_logging(const std::string& level, const std::optional<std::string>& file, bool syslog, int domid,
                   uint64_t max_bytes) {
  const std::string name = "xvgpu-dm-" + std::to_string(domid);
  const std::string dom = std::to_string(domid);
  std::shared_ptr<spdlog::logger> logger;
  std::string pattern = "%Y-%m-%d %H:%M:%S.%e xvgpu-dm[%P] dom" + dom + " %l: %v";
  bool journal = false;
  try {
    if (syslog) {
      logger = spdlog::syslog_logger_mt(name, "xvgpu-dm", LOG_PID, LOG_DAEMON, true);
      pattern = "domain " + dom + ": %v";
    } else if (file) {
      UniqueFd fd(::open(file->c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640));
      if (!fd) throw Error(*file + ": " + std::strerror(errno));
      logger =
          std::make_shared<spdlog::logger>(name, std::make_shared<BoundedFdSink>(std::move(fd), max_bytes));
    } else {
      // The journal stamps time and pid itself, and reads the priority from the line's start.
      journal = is_journal_stream(STDERR_FILENO, std::getenv("JOURNAL_STREAM"));
      if (journal) pattern = "%*dom" + dom + " %l: %v";
      logger =
          std::make_shared<spdlog::logger>(name, std::make_shared<BoundedFdSink>(STDERR_FILENO, max_bytes));
    }
  } catch (const spdlog::spdlog_ex& e) {
    throw Error("opening the log: " + std::string(e.what()));
  }
  if (journal) {
    auto formatter = std::make_unique<spdlog::pattern_formatter>();
    formatter->add_flag<PriorityFlag>('*').set_pattern(pattern);
    logger->set_formatter(std::move(formatter));
  } else {
    logger->set_pattern(pattern);
  }
  logger->set_level(spdlog::level::from_str(level));
  logger->flush_on(spdlog::level::info);
  spdlog::set_default_logger(logger);
}

}  // namespace xvgpu::dm
