#include "control/control_protocol.h"

#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <array>
#include <cstring>
#include <nlohmann/json.hpp>

namespace xvgpu::control {

namespace {

using Clock = std::chrono::steady_clock;

// Waits until fd is ready for `events` or the deadline passes.
void wait_ready(int fd, short events, Clock::time_point deadline) {
  for (;;) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    if (left.count() <= 0) throw ControlError("transport", "timed out waiting for the control socket");
    pollfd p{fd, events, 0};
    const int rc = ::poll(&p, 1, static_cast<int>(left.count()));
    if (rc > 0) return;
    if (rc < 0 && errno != EINTR) {
      throw ControlError("transport", std::string("poll on the control socket: ") + std::strerror(errno));
    }
  }
}

UniqueFd connect_unix(const std::string& path) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path.empty() || path.size() >= sizeof(addr.sun_path)) {
    throw ControlError("transport", "control socket path '" + path + "' is empty or too long");
  }
  std::memcpy(addr.sun_path, path.data(), path.size());
  UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
  if (!fd) throw ControlError("transport", std::string("socket: ") + std::strerror(errno));
  if (::connect(fd.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof(addr)) != 0) {
    throw ControlError("transport", "cannot connect to control socket " + path + ": " + std::strerror(errno));
  }
  return fd;
}

}  // namespace

nlohmann::json make_ok(nlohmann::json result) {
  return {{"ok", true}, {"result", std::move(result)}};
}

nlohmann::json make_error(std::string_view code, const std::string& message) {
  return {{"ok", false}, {"code", std::string(code)}, {"error", message}};
}

std::string encode_message(const nlohmann::json& msg) {
  std::string text = msg.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  text.push_back('\n');
  return text;
}

void MessageStream::write(const nlohmann::json& msg, std::chrono::milliseconds timeout) {
  const std::string text = encode_message(msg);
  const auto deadline = Clock::now() + timeout;
  std::size_t done = 0;
  while (done < text.size()) {
    const ssize_t n = ::send(fd_.get(), text.data() + done, text.size() - done, MSG_NOSIGNAL);
    if (n > 0) {
      done += static_cast<std::size_t>(n);
    } else if (n < 0 && (errno == EAGAIN)) {
      wait_ready(fd_.get(), POLLOUT, deadline);
    } else if (n < 0 && errno != EINTR) {
      throw ControlError("transport", std::string("write to control socket: ") + std::strerror(errno));
    }
  }
}

bool MessageStream::read(nlohmann::json& out, std::chrono::milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  std::size_t scanned = 0;
  for (;;) {
    const auto nl = inbuf_.find('\n', scanned);
    if (nl != std::string::npos) {
      const std::string line = inbuf_.substr(0, nl);
      inbuf_.erase(0, nl + 1);
      out = nlohmann::json::parse(line, nullptr, false);
      if (out.is_discarded()) throw ControlError("transport", "malformed JSON message on control socket");
      return true;
    }
    scanned = inbuf_.size();
    if (inbuf_.size() > kMaxMessageBytes) throw ControlError("transport", "control message too large");
    std::array<char, 65536> chunk{};
    const ssize_t n = ::recv(fd_.get(), chunk.data(), chunk.size(), 0);
    if (n > 0) {
      inbuf_.append(chunk.data(), static_cast<std::size_t>(n));
    } else if (n == 0) {
      if (inbuf_.empty()) return false;
      throw ControlError("transport", "control connection closed inside a message");
    } else if (errno == EAGAIN) {
      wait_ready(fd_.get(), POLLIN, deadline);
    } else if (errno != EINTR) {
      throw ControlError("transport", std::string("read from control socket: ") + std::strerror(errno));
    }
  }
}

MessageStream::Fill MessageStream::read_available(nlohmann::json& out, std::size_t max_bytes) {
  bool eof = false;
  while (inbuf_.find('\n') == std::string::npos && !eof) {
    if (inbuf_.size() > max_bytes) {
      throw ControlError("transport", "control request too large (over " + std::to_string(max_bytes) +
                                          " bytes without a newline)");
    }
    std::array<char, 65536> chunk{};
    const ssize_t n = ::recv(fd_.get(), chunk.data(), chunk.size(), MSG_DONTWAIT);
    if (n > 0) {
      inbuf_.append(chunk.data(), static_cast<std::size_t>(n));
    } else if (n == 0) {
      eof = true;
    } else if (errno == EAGAIN) {
      return Fill::Partial;
    } else if (errno != EINTR) {
      throw ControlError("transport", std::string("read from control socket: ") + std::strerror(errno));
    }
  }
  const auto nl = inbuf_.find('\n');
  if (nl == std::string::npos) {
    if (inbuf_.empty()) return Fill::Closed;
    throw ControlError("transport", "control connection closed inside a message");
  }
  if (nl > max_bytes) throw ControlError("transport", "control request too large");
  const std::string line = inbuf_.substr(0, nl);
  inbuf_.erase(0, nl + 1);
  out = nlohmann::json::parse(line, nullptr, false);
  if (out.is_discarded()) throw ControlError("transport", "malformed JSON message on control socket");
  return Fill::Message;
}

Client::Client(const std::string& path, std::chrono::milliseconds timeout)
    : stream_(connect_unix(path)), timeout_(timeout) {}

nlohmann::json Client::call(const nlohmann::json& request) {
  stream_.write(request, timeout_);
  nlohmann::json reply;
  if (!stream_.read(reply, timeout_)) throw ControlError("transport", "device model closed the connection");
  if (!reply.is_object() || !reply.contains("ok")) throw ControlError("transport", "malformed reply");
  if (reply.value("ok", false)) return reply.value("result", nlohmann::json::object());
  throw ControlError(reply.value("code", std::string(kErrInternal)),
                     reply.value("error", std::string("failed")));
}

namespace {
constexpr std::string_view kB64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
}

std::string base64_encode(std::string_view bytes) {
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  std::size_t i = 0;
  for (; i + 2 < bytes.size(); i += 3) {
    const uint32_t v = static_cast<uint32_t>(static_cast<uint8_t>(bytes[i])) << 16 |
                       static_cast<uint32_t>(static_cast<uint8_t>(bytes[i + 1])) << 8 |
                       static_cast<uint8_t>(bytes[i + 2]);
    out.push_back(kB64[v >> 18 & 63]);
    out.push_back(kB64[v >> 12 & 63]);
    out.push_back(kB64[v >> 6 & 63]);
    out.push_back(kB64[v & 63]);
  }
  if (i < bytes.size()) {
    uint32_t v = static_cast<uint32_t>(static_cast<uint8_t>(bytes[i])) << 16;
    if (i + 1 < bytes.size()) v |= static_cast<uint32_t>(static_cast<uint8_t>(bytes[i + 1])) << 8;
    out.push_back(kB64[v >> 18 & 63]);
    out.push_back(kB64[v >> 12 & 63]);
    out.push_back(i + 1 < bytes.size() ? kB64[v >> 6 & 63] : '=');
    out.push_back('=');
  }
  return out;
}

std::string base64_decode(std::string_view text) {
  if (text.size() % 4 != 0) throw Error("base64: length is not a multiple of 4");
  std::string out;
  out.reserve(text.size() / 4 * 3);
  for (std::size_t i = 0; i < text.size(); i += 4) {
    uint32_t v = 0;
    int pad = 0;
    for (std::size_t j = 0; j < 4; ++j) {
      const char c = text[i + j];
      uint32_t d = 0;
      if (c == '=' && i + 4 == text.size() && j >= 2) {
        ++pad;
      } else {
        const auto pos = kB64.find(c);
        if (pos == std::string_view::npos || pad != 0) throw Error("base64: invalid character");
        d = static_cast<uint32_t>(pos);
      }
      v = v << 6 | d;
    }
    out.push_back(static_cast<char>(v >> 16 & 0xff));
    if (pad < 2) out.push_back(static_cast<char>(v >> 8 & 0xff));
    if (pad < 1) out.push_back(static_cast<char>(v & 0xff));
  }
  return out;
}

}  // namespace xvgpu::control
