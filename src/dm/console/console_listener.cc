#include "dm/console/console_listener.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <utility>

#include "common/error.h"

namespace xvgpu::dm {

namespace {

constexpr int kBacklog = 16;

[[noreturn]] void fail(const std::string& what, const ConsoleAddress& a) {
  throw SystemError(errno, "console " + a.to_string() + ": " + what);
}

}  // namespace

ConsoleListener::ConsoleListener(ConsoleListener&& o) noexcept
    : fd(std::move(o.fd)), bound(std::exchange(o.bound, ConsoleAddress{})) {}

ConsoleListener::~ConsoleListener() {
  if (fd.valid() && bound.kind == ConsoleAddress::Kind::Unix) ::unlink(bound.path.c_str());
}

ConsoleListener open_console_listener(const ConsoleAddress& a) {
  ConsoleListener l;
  l.bound = a;
  if (a.kind == ConsoleAddress::Kind::Off) throw Error("console is off: nothing to listen on");
  if (a.kind == ConsoleAddress::Kind::Unix) {
    sockaddr_un sun{};
    sun.sun_family = AF_UNIX;
    std::memcpy(sun.sun_path, a.path.c_str(), a.path.size() + 1);
    struct stat st {};
    if (::lstat(a.path.c_str(), &st) == 0) {
      if (!S_ISSOCK(st.st_mode)) {
        errno = EEXIST;
        fail("the path exists and is not a socket", a);
      }
      ::unlink(a.path.c_str());
    }
    UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
    if (!fd) fail("socket", a);
    const mode_t old = ::umask(0177);  // created 0600: never reachable by others, not even briefly
    const int rc = ::bind(fd.get(), reinterpret_cast<const sockaddr*>(&sun), sizeof sun);
    ::umask(old);
    if (rc != 0) fail("bind", a);
    if (::listen(fd.get(), kBacklog) != 0) {
      ::unlink(a.path.c_str());
      fail("listen", a);
    }
    l.fd = std::move(fd);
    return l;
  }
  const bool v6 = a.host.find(':') != std::string::npos;
  UniqueFd fd(::socket(v6 ? AF_INET6 : AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
  if (!fd) fail("socket", a);
  const int one = 1;
  ::setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_storage ss{};
  socklen_t len = 0;
  if (v6) {
    auto* s6 = reinterpret_cast<sockaddr_in6*>(&ss);
    s6->sin6_family = AF_INET6;
    s6->sin6_port = htons(a.port);
    if (::inet_pton(AF_INET6, a.host.c_str(), &s6->sin6_addr) != 1) fail("address", a);
    ::setsockopt(fd.get(), IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
    len = sizeof(sockaddr_in6);
  } else {
    auto* s4 = reinterpret_cast<sockaddr_in*>(&ss);
    s4->sin_family = AF_INET;
    s4->sin_port = htons(a.port);
    if (::inet_pton(AF_INET, a.host.c_str(), &s4->sin_addr) != 1) fail("address", a);
    len = sizeof(sockaddr_in);
  }
  if (::bind(fd.get(), reinterpret_cast<const sockaddr*>(&ss), len) != 0) fail("bind", a);
  if (::listen(fd.get(), kBacklog) != 0) fail("listen", a);
  len = sizeof ss;
  if (::getsockname(fd.get(), reinterpret_cast<sockaddr*>(&ss), &len) != 0) fail("getsockname", a);
  l.bound.port = ntohs(v6 ? reinterpret_cast<sockaddr_in6*>(&ss)->sin6_port
                          : reinterpret_cast<sockaddr_in*>(&ss)->sin_port);
  l.fd = std::move(fd);
  return l;
}

}  // namespace xvgpu::dm
