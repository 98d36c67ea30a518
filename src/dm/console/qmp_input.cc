#include "dm/console/qmp_input.h"

#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>

#include <spdlog/spdlog.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>

#include "common/error.h"
#include "common/rate_limited_log.h"
#include "dm/console/keysym_qcode.h"

namespace xvgpu::dm {

namespace {

using nlohmann::json;

// QEMU's range of an absolute axis (INPUT_EVENT_ABS_MIN..MAX).
constexpr int64_t kAbsMax = 0x7fff;
constexpr size_t kReadChunk = 4096;
// RFB button mask bits and the QMP InputButton each stands for.
constexpr std::array<const char*, 5> kButtons = {"left", "middle", "right", "wheel-up", "wheel-down"};

RateLimiter g_qmp_log{10};

json key_command(std::string_view qcode, bool down) {
  return {{"execute", "input-send-event"},
          {"arguments",
           {{"events",
             json::array({{{"type", "key"},
                           {"data", {{"down", down}, {"key", {{"type", "qcode"}, {"data", qcode}}}}}}})}}}};
}

int64_t scale(uint32_t v, uint32_t size) {
  if (size <= 1) return 0;
  return std::min<int64_t>(kAbsMax, int64_t{v} * kAbsMax / (size - 1));
}

ConsoleListener open_qmp_listener(const std::string& path) {
  try {
    return open_console_listener(ConsoleAddress{ConsoleAddress::Kind::Unix, {}, 0, path});
  } catch (const std::exception& e) {
    throw Error("input QMP socket " + path + ": " + e.what());
  }
}

}  // namespace

QmpInput::QmpInput(const std::string& path, QmpInputOptions options)
    : options_(options), listener_(open_qmp_listener(path)) {
  wake_fd_ = UniqueFd(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  if (!wake_fd_) throw SystemError(errno, "input QMP: eventfd");
  thread_ = std::thread([this] { run(); });
}

QmpInput::~QmpInput() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  const uint64_t one = 1;
  (void)!::write(wake_fd_.get(), &one, sizeof one);
  if (thread_.joinable()) thread_.join();
}

QmpInputCounters QmpInput::counters() const {
  std::lock_guard lock(mu_);
  return counters_;
}

nlohmann::json QmpInput::status() const {
  const QmpInputCounters c = counters();
  return {{"qemu_ready", c.ready},
          {"absolute_pointer", c.absolute},
          {"connections", c.connections},
          {"keys_sent", c.keys_sent},
          {"pointer_sent", c.pointer_sent},
          {"dropped_offline", c.dropped_offline},
          {"dropped_full", c.dropped_full},
          {"unmapped", c.unmapped},
          {"errors", c.errors}};
}

void QmpInput::key(uint32_t keysym, bool down) noexcept {
  push(Event{true, keysym, down, 0, 0, 0, 0, 0});
}

void QmpInput::pointer(uint8_t buttons, uint32_t x, uint32_t y, uint32_t width, uint32_t height) noexcept {
  push(Event{false, 0, false, buttons, x, y, width, height});
}

void QmpInput::push(const Event& e) noexcept {
  {
    std::lock_guard lock(mu_);
    if (!counters_.ready) {
      ++counters_.dropped_offline;
      return;
    }
    if (queue_.size() >= options_.max_queued) {
      ++counters_.dropped_full;
      return;
    }
    queue_.push_back(e);
  }
  const uint64_t one = 1;
  (void)!::write(wake_fd_.get(), &one, sizeof one);
}

void QmpInput::run() {
  for (;;) {
    std::array<pollfd, 3> fds{};
    fds[0] = {listener_.fd.get(), POLLIN, 0};
    fds[1] = {wake_fd_.get(), POLLIN, 0};
    nfds_t n = 2;
    if (conn_) {
      fds[2] = {conn_.get(), static_cast<short>(POLLIN | (out_.empty() ? 0 : POLLOUT)), 0};
      n = 3;
    }
    int timeout_ms = -1;
    if (state_ == State::Greeting || state_ == State::Negotiating) {
      const auto left =
          std::chrono::duration_cast<std::chrono::milliseconds>(deadline_ - std::chrono::steady_clock::now());
      timeout_ms = static_cast<int>(std::max<int64_t>(0, left.count()));
    }
    if (::poll(fds.data(), n, timeout_ms) < 0) {
      if (errno == EINTR) continue;
      spdlog::error("input QMP {}: poll: {}", where(), std::strerror(errno));
      return;
    }
    if ((fds[1].revents & POLLIN) != 0) {
      uint64_t v = 0;
      (void)!::read(wake_fd_.get(), &v, sizeof v);
      std::lock_guard lock(mu_);
      if (stopping_) return;
    }
    if ((fds[0].revents & POLLIN) != 0) accept_connection();
    if (n == 3 && conn_ && (fds[2].revents & (POLLIN | POLLHUP | POLLERR)) != 0 && !read_connection()) {
      close_connection("closed by QEMU");
    }
    if ((state_ == State::Greeting || state_ == State::Negotiating) &&
        std::chrono::steady_clock::now() >= deadline_) {
      close_connection("no QMP handshake in time");
    }
    translate_queued();
    if (conn_ && !out_.empty() && !write_connection()) close_connection("write failed");
  }
}

void QmpInput::accept_connection() {
  UniqueFd fd(::accept4(listener_.fd.get(), nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK));
  if (!fd) return;
  // A new QEMU (restarted, or reconnected after losing us) replaces the old connection.
  if (conn_) close_connection("replaced by a new connection");
  conn_ = std::move(fd);
  state_ = State::Greeting;
  // A new QEMU starts with its buttons up and no position of ours.
  last_buttons_ = 0;
  have_position_ = false;
  deadline_ = std::chrono::steady_clock::now() + options_.handshake_timeout;
  std::lock_guard lock(mu_);
  ++counters_.connections;
}

void QmpInput::close_connection(const char* why) {
  if (!conn_) return;
  if (state_ == State::Ready) {
    XVGPU_LOG_LIMITED(g_qmp_log, spdlog::level::info, "input QMP {}: connection {}", where(), why);
  } else {
    XVGPU_LOG_LIMITED(g_qmp_log, spdlog::level::warn, "input QMP {}: connection {}", where(), why);
  }
  conn_.reset();
  state_ = State::None;
  in_.clear();
  out_.clear();
  std::lock_guard lock(mu_);
  counters_.ready = false;
  counters_.dropped_offline += queue_.size();
  queue_.clear();
}

bool QmpInput::read_connection() {
  std::array<char, kReadChunk> buf{};
  for (;;) {
    const ssize_t r = ::recv(conn_.get(), buf.data(), buf.size(), 0);
    if (r == 0) return false;
    if (r < 0) return errno == EAGAIN || errno == EINTR;  // EWOULDBLOCK == EAGAIN on Linux
    in_.append(buf.data(), static_cast<size_t>(r));
    size_t start = 0;
    for (size_t nl; (nl = in_.find('\n', start)) != std::string::npos; start = nl + 1) {
      handle_message(in_.substr(start, nl - start));
      if (!conn_) return true;  // handle_message gave up on it
    }
    in_.erase(0, start);
    if (in_.size() > options_.max_line_bytes) {
      close_connection("sent an over-long message");
      return true;
    }
  }
}

bool QmpInput::write_connection() {
  while (!out_.empty()) {
    const ssize_t w = ::send(conn_.get(), out_.data(), out_.size(), MSG_NOSIGNAL);
    if (w < 0) return errno == EAGAIN || errno == EINTR;  // EWOULDBLOCK == EAGAIN on Linux
    out_.erase(0, static_cast<size_t>(w));
  }
  return true;
}

void QmpInput::append_command(const std::string& command) {
  out_ += command;
  out_ += '\n';
}

void QmpInput::handle_message(const std::string& line) {
  json msg;
  try {
    msg = json::parse(line);
  } catch (const json::exception&) {
    close_connection("sent a message that is not JSON");
    return;
  }
  if (!msg.is_object()) {
    close_connection("sent a message that is not a JSON object");
    return;
  }
  switch (state_) {
    case State::Greeting:
      if (!msg.contains("QMP")) {
        close_connection("did not greet with QMP");
        return;
      }
      append_command(json{{"execute", "qmp_capabilities"}}.dump());
      state_ = State::Negotiating;
      return;
    case State::Negotiating:
      if (!msg.contains("return")) {
        close_connection("refused qmp_capabilities");
        return;
      }
      state_ = State::Ready;
      append_command(json{{"execute", "query-mice"}, {"id", "mice"}}.dump());
      last_mice_query_ = std::chrono::steady_clock::now();
      {
        std::lock_guard lock(mu_);
        counters_.ready = true;
      }
      spdlog::info("input QMP {}: QEMU connected, keyboard and pointer events go to the guest", where());
      return;
    case State::Ready:
      break;
    case State::None:
      return;
  }
  if (msg.contains("event")) return;  // asynchronous QEMU events: not ours
  const bool mice = msg.value("id", json()) == "mice";
  if (msg.contains("error")) {
    std::lock_guard lock(mu_);
    ++counters_.errors;
    XVGPU_LOG_LIMITED(g_qmp_log, spdlog::level::warn, "input QMP {}: QEMU refused {}: {}", where(),
                      mice ? "query-mice" : "an input event", msg["error"].dump());
    return;
  }
  if (mice && msg["return"].is_array()) {
    bool absolute = false;
    for (const json& m : msg["return"]) {
      if (m.is_object() && m.value("current", false)) absolute = m.value("absolute", false);
    }
    std::lock_guard lock(mu_);
    counters_.absolute = absolute;
  }
}

std::string QmpInput::pointer_command(const Event& e) {
  json events = json::array();
  bool absolute = false;
  {
    std::lock_guard lock(mu_);
    absolute = counters_.absolute;
  }
  const uint32_t x = std::min(e.x, e.width > 0 ? e.width - 1 : 0);
  const uint32_t y = std::min(e.y, e.height > 0 ? e.height - 1 : 0);
  if (absolute) {
    events.push_back({{"type", "abs"}, {"data", {{"axis", "x"}, {"value", scale(x, e.width)}}}});
    events.push_back({{"type", "abs"}, {"data", {{"axis", "y"}, {"value", scale(y, e.height)}}}});
  } else if (have_position_ && (x != last_x_ || y != last_y_)) {
    // A relative mouse (PS/2) moves by the difference, as QEMU's own VNC server does.
    events.push_back({{"type", "rel"}, {"data", {{"axis", "x"}, {"value", int64_t{x} - last_x_}}}});
    events.push_back({{"type", "rel"}, {"data", {{"axis", "y"}, {"value", int64_t{y} - last_y_}}}});
  }
  last_x_ = x;
  last_y_ = y;
  have_position_ = true;
  for (size_t b = 0; b < kButtons.size(); ++b) {
    const bool now = (e.buttons >> b & 1U) != 0;
    if (now != ((last_buttons_ >> b & 1U) != 0)) {
      events.push_back({{"type", "btn"}, {"data", {{"down", now}, {"button", kButtons[b]}}}});
    }
  }
  last_buttons_ = e.buttons;
  if (events.empty()) return {};
  return json{{"execute", "input-send-event"}, {"arguments", {{"events", events}}}}.dump();
}

void QmpInput::translate_queued() {
  if (state_ != State::Ready) return;
  std::deque<Event> batch;
  {
    std::lock_guard lock(mu_);
    batch.swap(queue_);
  }
  bool pointer_seen = false;
  uint64_t keys = 0, pointers = 0, full = 0, unmapped = 0;
  for (const Event& e : batch) {
    if (out_.size() >= options_.max_unsent_bytes) {
      ++full;  // QEMU does not read: the newest events go, the stream stays whole
      continue;
    }
    if (e.is_key) {
      const auto qcode = keysym_to_qcode(e.keysym);
      if (!qcode) {
        ++unmapped;
        continue;
      }
      append_command(key_command(*qcode, e.down).dump());
      ++keys;
    } else {
      pointer_seen = true;
      const std::string cmd = pointer_command(e);
      if (cmd.empty()) continue;
      append_command(cmd);
      ++pointers;
    }
  }
  // The guest may switch mice (a USB tablet's driver binds): asked again while the pointer moves.
  const auto now = std::chrono::steady_clock::now();
  if (pointer_seen && now - last_mice_query_ >= options_.mice_query_interval &&
      out_.size() < options_.max_unsent_bytes) {
    append_command(json{{"execute", "query-mice"}, {"id", "mice"}}.dump());
    last_mice_query_ = now;
  }
  std::lock_guard lock(mu_);
  counters_.keys_sent += keys;
  counters_.pointer_sent += pointers;
  counters_.dropped_full += full;
  counters_.unmapped += unmapped;
}

}  // namespace xvgpu::dm
