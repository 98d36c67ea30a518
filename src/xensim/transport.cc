#include "xensim/transport.h"

#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>

namespace xensim {

std::string default_socket_path() {
  if (const char* p = std::getenv("XENSIM_SOCKET"); p != nullptr && *p != '\0') {
    return p;
  }
  return "/tmp/xensim-" + std::to_string(::getuid()) + ".sock";
}

bool send_message(int fd, const void* hdr, size_t hdr_len, std::span<const uint8_t> payload,
                  std::span<const int> fds) {
  iovec iov[2] = {{const_cast<void*>(hdr), hdr_len}, {const_cast<uint8_t*>(payload.data()), payload.size()}};
  msghdr msg{};
  msg.msg_iov = iov;
  msg.msg_iovlen = payload.empty() ? 1 : 2;
  alignas(cmsghdr) char ctrl[CMSG_SPACE(sizeof(int) * kMaxFdsPerReply)];
  if (!fds.empty()) {
    msg.msg_control = ctrl;
    msg.msg_controllen = CMSG_SPACE(sizeof(int) * fds.size());
    cmsghdr* c = CMSG_FIRSTHDR(&msg);
    if (c == nullptr) {
      return false;
    }
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int) * fds.size());
    std::memcpy(CMSG_DATA(c), fds.data(), sizeof(int) * fds.size());
  }
  size_t total = hdr_len + payload.size();
  while (total > 0) {
    const ssize_t n = ::sendmsg(fd, &msg, MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR) {
        continue;
      }
      return false;
    }
    total -= static_cast<size_t>(n);
    msg.msg_control = nullptr;  // fds go with the first byte only
    msg.msg_controllen = 0;
    auto left = static_cast<size_t>(n);
    while (left > 0 && msg.msg_iovlen > 0) {
      if (left >= msg.msg_iov[0].iov_len) {
        left -= msg.msg_iov[0].iov_len;
        ++msg.msg_iov;
        --msg.msg_iovlen;
      } else {
        msg.msg_iov[0].iov_base = static_cast<char*>(msg.msg_iov[0].iov_base) + left;
        msg.msg_iov[0].iov_len -= left;
        left = 0;
      }
    }
  }
  return true;
}

bool recv_exact(int fd, void* buf, size_t len, std::vector<xvgpu::UniqueFd>* fds) {
  auto* p = static_cast<char*>(buf);
  while (len > 0) {
    iovec iov{p, len};
    msghdr msg{};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    alignas(cmsghdr) char ctrl[CMSG_SPACE(sizeof(int) * kMaxFdsPerReply)];
    if (fds != nullptr) {
      msg.msg_control = ctrl;
      msg.msg_controllen = sizeof ctrl;
    }
    const ssize_t n = ::recvmsg(fd, &msg, MSG_CMSG_CLOEXEC);
    if (n < 0 && errno == EINTR) {
      continue;
    }
    if (n <= 0) {
      return false;
    }
    if (fds != nullptr) {
      for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c != nullptr; c = CMSG_NXTHDR(&msg, c)) {
        if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) {
          continue;
        }
        const size_t nfd = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
        for (size_t i = 0; i < nfd; ++i) {
          int f = -1;
          std::memcpy(&f, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
          fds->emplace_back(f);
        }
      }
    }
    p += n;
    len -= static_cast<size_t>(n);
  }
  return true;
}

namespace {

class SocketTransport final : public Transport {
 public:
  explicit SocketTransport(xvgpu::UniqueFd fd) : fd_(std::move(fd)) {}
  Reply call(Op op, std::span<const uint8_t> payload) override {
    std::lock_guard lk(mu_);
    if (!fd_) {
      return Reply::error(ECONNRESET);
    }
    RequestHeader h{static_cast<uint32_t>(op), static_cast<uint32_t>(payload.size())};
    if (!send_message(fd_.get(), &h, sizeof h, payload, {})) {
      return lost();
    }
    ReplyHeader rh{};
    Reply r;
    if (!recv_exact(fd_.get(), &rh, sizeof rh, &r.fds)) {
      return lost();
    }
    if (rh.len > kMaxMessage) {
      return lost();
    }
    r.rc = rh.rc;
    r.err = rh.err;
    r.data.resize(rh.len);
    if (rh.len != 0 && !recv_exact(fd_.get(), r.data.data(), rh.len, &r.fds)) {
      return lost();
    }
    return r;
  }

 private:
  Reply lost() {
    fd_.reset();
    return Reply::error(ECONNRESET);
  }
  std::mutex mu_;
  xvgpu::UniqueFd fd_;
};

}  // namespace

std::unique_ptr<Transport> connect_socket(const std::string& path) {
  xvgpu::UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!fd) {
    return nullptr;
  }
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path.size() >= sizeof addr.sun_path) {
    errno = ENAMETOOLONG;
    return nullptr;
  }
  std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
  if (::connect(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    return nullptr;
  }
  return std::make_unique<SocketTransport>(std::move(fd));
}

std::unique_ptr<Transport> hello(std::unique_ptr<Transport> t, SessionKind kind,
                                 std::vector<xvgpu::UniqueFd>* fds) {
  if (!t) {
    return nullptr;
  }
  Writer w;
  w.put(static_cast<uint32_t>(kind));
  Reply r = t->call(Op::hello, w);
  if (r.rc < 0) {
    errno = r.err;
    return nullptr;
  }
  if (fds != nullptr) {
    *fds = std::move(r.fds);
  }
  return t;
}

}  // namespace xensim
