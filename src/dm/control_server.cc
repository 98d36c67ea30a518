#include "dm/control_server.h"

#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstring>
#include <list>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "common/error.h"
#include "common/rate_limited_log.h"
#include "control/control_protocol.h"

namespace xvgpu::control {

namespace {

using Clock = std::chrono::steady_clock;

// Requests served from one client before the others get their turn (a client pipelining
// requests whose replies fit in its socket buffer would otherwise keep the thread to itself).
constexpr unsigned kRequestsPerTurn = 8;

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

ControlServer::ControlServer(std::string path, mode_t mode, Handler handler, ControlLimits limits)
    : path_(std::move(path)), handler_(std::move(handler)), limits_(limits) {
  if (limits_.max_reply_backlog_total < limits_.max_reply_backlog_per_client) {
    throw Error("control server: the total reply backlog must hold at least one client's");
  }
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

// One client connection: its request stream and its unsent reply. The deadlines run on the
// server's service clock (see serve()).
class ControlServer::Connection {
 public:
  Connection(UniqueFd fd, std::string peer) : in_(std::move(fd)), peer_(std::move(peer)) {}

  [[nodiscard]] int fd() const { return in_.fd(); }
  [[nodiscard]] const std::string& peer() const { return peer_; }
  MessageStream& in() { return in_; }

  [[nodiscard]] std::size_t unsent() const { return out_.size() - sent_; }
  [[nodiscard]] std::size_t reply_size() const { return out_.size(); }
  [[nodiscard]] Clock::time_point reply_since() const { return reply_since_; }
  // Only when nothing is unsent: replies leave in request order.
  void queue(std::string reply, Clock::time_point now) {
    out_ = std::move(reply);
    sent_ = 0;
    reply_since_ = now;
  }
  // Writes what the socket takes now; returns the bytes written. Throws PeerGone when the client
  // closed its end, ControlError on other errors.
  std::size_t flush() {
    std::size_t wrote = 0;
    while (unsent() != 0) {
      const ssize_t n = ::send(fd(), out_.data() + sent_, unsent(), MSG_NOSIGNAL | MSG_DONTWAIT);
      if (n > 0) {
        sent_ += static_cast<std::size_t>(n);
        wrote += static_cast<std::size_t>(n);
      } else if (n < 0 && errno == EAGAIN) {
        break;
      } else if (n < 0 && (errno == EPIPE || errno == ECONNRESET)) {
        throw PeerGone();
      } else if (n < 0 && errno != EINTR) {
        throw ControlError("transport", std::string("write to control socket: ") + std::strerror(errno));
      }
    }
    if (unsent() == 0) {
      std::string().swap(out_);  // a screenshot's buffer is not kept around
      sent_ = 0;
    }
    return wrote;
  }

  // Set while an incomplete request sits in the buffer.
  std::optional<Clock::time_point> partial_since;

  struct PeerGone {};

 private:
  MessageStream in_;
  std::string peer_;  // "pid N" from SO_PEERCRED
  std::string out_;
  std::size_t sent_ = 0;
  Clock::time_point reply_since_{};
};

void ControlServer::serve() {
  std::list<Connection> clients;
  std::size_t backlog = 0;  // unsent reply bytes of all clients
  RateLimiter limiter;
  // Time spent inside the handler (the thread attends to nobody then: a screenshot is encoded, a
  // command waits for the ioreq loop) does not count against any client's deadline: the
  // deadlines run on this clock, which stands still meanwhile.
  Clock::duration busy{};
  auto service_now = [&] { return Clock::now() - busy; };
  // Room for one more largest reply: otherwise requests wait until slow clients drain or go.
  auto admit = [&] {
    return backlog + limits_.max_reply_backlog_per_client <= limits_.max_reply_backlog_total;
  };
  auto drop = [&](std::list<Connection>::iterator it, const std::string& why, bool quiet) {
    if (quiet) {
      spdlog::debug("control connection from {} closed: {}", it->peer(), why);
    } else {
      XVGPU_LOG_LIMITED(limiter, spdlog::level::warn, "control connection from {} dropped: {}", it->peer(),
                        why);
    }
    backlog -= it->unsent();
    return clients.erase(it);
  };

  while (!stopping_.load()) {
    std::vector<pollfd> fds;
    fds.push_back({wake_fd_.get(), POLLIN, 0});
    fds.push_back({listen_fd_.get(), POLLIN, 0});
    bool work_buffered = false;
    std::optional<Clock::time_point> next_deadline;
    auto consider = [&](Clock::time_point t) {
      if (!next_deadline || t < *next_deadline) next_deadline = t;
    };
    for (auto& c : clients) {
      short events = 0;
      if (c.unsent() != 0) {
        events = POLLOUT;
        consider(c.reply_since() + limits_.reply_deadline);
      } else if (admit()) {
        events = POLLIN;
        work_buffered = work_buffered || c.in().has_buffered_message();
      }
      if (c.partial_since) consider(*c.partial_since + limits_.request_deadline);
      fds.push_back({c.fd(), events, 0});
    }
    int timeout_ms = -1;
    if (work_buffered) {
      timeout_ms = 0;
    } else if (next_deadline) {
      const auto left = *next_deadline - service_now();
      timeout_ms = static_cast<int>(
          std::clamp<int64_t>(std::chrono::ceil<std::chrono::milliseconds>(left).count() + 1, 0, 60'000));
    }
    const int rc = ::poll(fds.data(), fds.size(), timeout_ms);
    if (rc < 0) {
      if (errno == EINTR) continue;
      spdlog::error("control server: poll: {}", std::strerror(errno));
      return;
    }
    if (fds[0].revents != 0) return;

    std::size_t i = 2;
    for (auto it = clients.begin(); it != clients.end(); ++i) {
      Connection& c = *it;
      const short revents = fds[i].revents;
      try {
        if (c.unsent() != 0 && revents != 0) backlog -= c.flush();
        // Requests one at a time, each once the previous reply is on its way.
        const bool readable = (revents & (POLLIN | POLLHUP | POLLERR)) != 0 || c.in().has_buffered_message();
        if (c.unsent() == 0 && admit() && readable) {
          for (unsigned n = 0; n < kRequestsPerTurn && c.unsent() == 0 && admit(); ++n) {
            nlohmann::json request;
            const auto fill = c.in().read_available(request, limits_.max_request_bytes);
            if (fill == MessageStream::Fill::Closed) throw Connection::PeerGone();
            if (fill == MessageStream::Fill::Partial) {
              if (!c.partial_since && c.in().buffered_bytes() != 0) c.partial_since = service_now();
              break;
            }
            c.partial_since.reset();
            const bool named = request.is_object() && request.contains("cmd") && request["cmd"].is_string();
            spdlog::debug("control request from {}: {}", c.peer(),
                          named ? request["cmd"].get<std::string>() : "?");
            const auto t0 = Clock::now();
            std::string reply = encode_message(dispatch(request));
            busy += Clock::now() - t0;
            if (reply.size() > limits_.max_reply_backlog_per_client) {
              throw ControlError("transport", "reply of " + std::to_string(reply.size()) +
                                                  " bytes is over the per-client limit of " +
                                                  std::to_string(limits_.max_reply_backlog_per_client));
            }
            c.queue(std::move(reply), service_now());
            backlog += c.unsent();
            backlog -= c.flush();
          }
        } else if (c.unsent() == 0 && (revents & (POLLHUP | POLLERR)) != 0) {
          throw Connection::PeerGone();  // waiting for room, and gone meanwhile
        }
        const auto now = service_now();
        if (c.unsent() != 0 && now - c.reply_since() > limits_.reply_deadline) {
          throw ControlError("transport", "reply of " + std::to_string(c.reply_size()) +
                                              " bytes not read within " +
                                              std::to_string(limits_.reply_deadline.count()) + " ms (" +
                                              std::to_string(c.unsent()) + " bytes unsent)");
        }
        if (c.partial_since && now - *c.partial_since > limits_.request_deadline) {
          throw ControlError("transport", "control client stalled inside a request for " +
                                              std::to_string(limits_.request_deadline.count()) + " ms");
        }
        ++it;
      } catch (const Connection::PeerGone&) {
        it = drop(it, "the client closed its end", true);
      } catch (const std::exception& e) {
        it = drop(it, e.what(), false);
      }
    }

    // New connections after the existing ones were served (and closed ones dropped).
    // Every pending connection at once (a flood must not fill the backlog for later clients).
    for (bool more = (fds[1].revents & POLLIN) != 0; more;) {
      UniqueFd conn(::accept4(listen_fd_.get(), nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK));
      more = static_cast<bool>(conn);
      if (conn && clients.size() < limits_.max_clients) {
        ucred cred{};
        socklen_t len = sizeof(cred);
        std::string peer = "pid ?";
        if (::getsockopt(conn.get(), SOL_SOCKET, SO_PEERCRED, &cred, &len) == 0) {
          peer = "pid " + std::to_string(cred.pid);
          spdlog::debug("control connection from pid {} uid {}", cred.pid, cred.uid);
        }
        clients.emplace_back(std::move(conn), std::move(peer));
      } else if (conn) {
        XVGPU_LOG_LIMITED(limiter, spdlog::level::warn,
                          "control server: too many connections ({}), refusing one", limits_.max_clients);
      }
    }
  }
}

}  // namespace xvgpu::control
