#include "dm/control_server.h"

#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <spdlog/spdlog.h>

#include <cstring>
#include <list>
#include <memory>

#include "common/error.h"
#include "common/rate_limited_log.h"
#include "dm/control_protocol.h"

namespace xvgpu::control {

namespace {

constexpr auto kMessageTimeout = std::chrono::seconds(2);
constexpr std::size_t kMaxClients = 16;
// Requests are small (the biggest is a hot-add spec); replies may be large (screenshots).
constexpr std::size_t kMaxRequestBytes = std::size_t{1} << 20;
constexpr auto kRequestDeadline = std::chrono::seconds(10);

sockaddr_un address_of(const std::string& path) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path.empty() || path.size() >= sizeof(addr.sun_path)) {
    throw Error("control socket path '" + path + "' is empty or longer than " +
                std::to_string(sizeof(addr.sun_path) - 1) + " bytes");
  }
  std::memcpy(addr.sun_path, path.data(), path.size());
  return addr;
}

// True when something accepts connections at addr.
bool someone_listens(const sockaddr_un& addr) {
  UniqueFd probe(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!probe) return false;
  return ::connect(probe.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof(addr)) == 0;
}

}  // namespace

ControlServer::ControlServer(std::string path, mode_t mode, Handler handler)
    : path_(std::move(path)), handler_(std::move(handler)) {
  const sockaddr_un addr = address_of(path_);
  struct stat st {};
  if (::lstat(path_.c_str(), &st) == 0) {
    if (!S_ISSOCK(st.st_mode)) throw Error("control socket path " + path_ + " exists and is not a socket");
    if (someone_listens(addr)) throw Error("control socket " + path_ + " is in use by another process");
    ::unlink(path_.c_str());  // stale, left by a killed device model
  }
  listen_fd_.reset(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
  check_errno(listen_fd_.get(), "creating control socket");
  // The socket is created with the process umask; tighten it first so it is never wider than mode.
  const mode_t old_umask = ::umask(0177);
  const int rc = ::bind(listen_fd_.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof(addr));
  const int bind_errno = errno;
  ::umask(old_umask);
  if (rc != 0) throw SystemError(bind_errno, "binding control socket " + path_);
  if (::chmod(path_.c_str(), mode) != 0) {
    const int e = errno;
    ::unlink(path_.c_str());
    throw SystemError(e, "setting permissions of control socket " + path_);
  }
  if (::lstat(path_.c_str(), &st) == 0) {
    sock_dev_ = st.st_dev;
    sock_ino_ = st.st_ino;
  }
  if (::listen(listen_fd_.get(), 8) != 0) {
    const int e = errno;
    ::unlink(path_.c_str());
    throw SystemError(e, "listening on control socket " + path_);
  }
  wake_fd_.reset(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  if (!wake_fd_) {
    const int e = errno;
    ::unlink(path_.c_str());
    throw SystemError(e, "eventfd for control server");
  }
}

ControlServer::~ControlServer() {
  stop();
}

void ControlServer::start() {
  thread_ = std::thread([this] { serve(); });
}

void ControlServer::stop() {
  if (stopping_.exchange(true)) return;
  const uint64_t one = 1;
  if (::write(wake_fd_.get(), &one, sizeof(one)) < 0) {
    // The eventfd cannot be full here; nothing else to do.
  }
  if (thread_.joinable()) thread_.join();
  listen_fd_.reset();
  // Remove the socket only if it is still ours (a successor may have replaced a stale one).
  struct stat st {};
  if (::lstat(path_.c_str(), &st) == 0 && st.st_dev == sock_dev_ && st.st_ino == sock_ino_) {
    ::unlink(path_.c_str());
  }
}

nlohmann::json ControlServer::dispatch(const nlohmann::json& request) const {
  if (!request.is_object() || !request.contains("cmd") || !request["cmd"].is_string()) {
    return make_error(kErrBadRequest, "request must be a JSON object with a string \"cmd\"");
  }
  try {
    return make_ok(handler_(request));
  } catch (const RequestError& e) {
    return make_error(e.code(), e.what());
  } catch (const nlohmann::json::exception& e) {
    return make_error(kErrBadRequest, std::string("bad arguments: ") + e.what());
  } catch (const std::exception& e) {
    return make_error(kErrInternal, e.what());
  }
}

void ControlServer::serve() {
  struct Conn {
    std::unique_ptr<MessageStream> stream;
    std::chrono::steady_clock::time_point partial_since;  // valid while a request is incomplete
  };
  std::list<Conn> clients;
  RateLimiter limiter;
  // One connection never holds up another: requests are read as they arrive (never waiting
  // for the rest of one), a request is bounded, and a client stuck inside one is dropped.
  while (!stopping_.load()) {
    std::vector<pollfd> fds;
    fds.push_back({wake_fd_.get(), POLLIN, 0});
    fds.push_back({listen_fd_.get(), POLLIN, 0});
    for (const auto& c : clients) fds.push_back({c.stream->fd(), POLLIN, 0});
    const int rc = ::poll(fds.data(), fds.size(), clients.empty() ? -1 : 1000);
    if (rc < 0) {
      if (errno == EINTR) continue;
      spdlog::error("control server: poll: {}", std::strerror(errno));
      return;
    }
    if (fds[0].revents != 0) return;
    const auto now = std::chrono::steady_clock::now();
    std::size_t i = 2;
    for (auto it = clients.begin(); it != clients.end(); ++i) {
      MessageStream& stream = *it->stream;
      bool keep = true;
      try {
        if (i < fds.size() && fds[i].revents != 0) {
          for (;;) {
            nlohmann::json request;
            const auto fill = stream.read_available(request, kMaxRequestBytes);
            if (fill == MessageStream::Fill::Closed) {
              keep = false;
              break;
            }
            if (fill == MessageStream::Fill::Partial) break;
            const bool named = request.is_object() && request.contains("cmd") && request["cmd"].is_string();
            spdlog::debug("control request: {}", named ? request["cmd"].get<std::string>() : "?");
            stream.write(dispatch(request), kMessageTimeout);
            it->partial_since = {};  // whatever follows is a new request
          }
          if (stream.buffered_bytes() == 0) {
            it->partial_since = {};
          } else if (it->partial_since == std::chrono::steady_clock::time_point{}) {
            it->partial_since = now;  // a request started: it has kRequestDeadline to complete
          }
        }
        if (keep && stream.buffered_bytes() != 0 &&
            it->partial_since != std::chrono::steady_clock::time_point{} &&
            now - it->partial_since > kRequestDeadline) {
          throw ControlError("transport", "control client stalled inside a request");
        }
      } catch (const std::exception& e) {
        XVGPU_LOG_LIMITED(limiter, spdlog::level::warn, "control connection dropped: {}", e.what());
        keep = false;
      }
      it = keep ? std::next(it) : clients.erase(it);
    }
    // New connections after the existing ones were served (and closed ones dropped).
    // Every pending connection at once (a flood must not fill the backlog for later clients).
    for (bool more = (fds[1].revents & POLLIN) != 0; more;) {
      UniqueFd conn(::accept4(listen_fd_.get(), nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK));
      more = static_cast<bool>(conn);
      if (conn && clients.size() < kMaxClients) {
        ucred cred{};
        socklen_t len = sizeof(cred);
        if (::getsockopt(conn.get(), SOL_SOCKET, SO_PEERCRED, &cred, &len) == 0) {
          spdlog::debug("control connection from pid {} uid {}", cred.pid, cred.uid);
        }
        clients.push_back({std::make_unique<MessageStream>(std::move(conn)), {}});
      } else if (conn) {
        XVGPU_LOG_LIMITED(limiter, spdlog::level::warn,
                          "control server: too many connections ({}), refusing one", kMaxClients);
      }
    }
  }
}

}  // namespace xvgpu::control
