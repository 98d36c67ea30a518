#include "control/console_address.h"

#include <arpa/inet.h>
#include <sys/un.h>

#include <charconv>

#include "common/error.h"

namespace xvgpu::dm {

namespace {

bool numeric_address(const std::string& host, bool v6) {
  unsigned char buf[sizeof(in6_addr)];
  return ::inet_pton(v6 ? AF_INET6 : AF_INET, host.c_str(), buf) == 1;
}

}  // namespace

ConsoleAddress ConsoleAddress::parse(std::string_view text) {
  ConsoleAddress a;
  const std::string shown(text.substr(0, 200));
  // The checks below read C strings (inet_pton, the socket path): a NUL would hide what follows
  // it from them, and the address would not be the one stored.
  if (text.find('\0') != std::string_view::npos) {
    throw Error("console address '" + std::string(text.substr(0, text.find('\0'))) +
                "...': contains a NUL byte");
  }
  if (text == "off") {
    a.kind = Kind::Off;
    a.host.clear();
    return a;
  }
  if (text.starts_with("unix:")) {
    a.kind = Kind::Unix;
    a.host.clear();
    a.path = std::string(text.substr(5));
    if (a.path.empty() || a.path[0] != '/') {
      throw Error("console address '" + shown + "': the socket path must be absolute (unix:/path)");
    }
    if (a.path.size() >= sizeof(sockaddr_un::sun_path)) {
      throw Error("console address '" + shown + "': the socket path is longer than " +
                  std::to_string(sizeof(sockaddr_un::sun_path) - 1) + " bytes");
    }
    if (a.path.find(',') != std::string::npos) {
      throw Error("console address '" + shown + "': the socket path may not contain ','");
    }
    return a;
  }
  const auto colon = text.rfind(':');
  if (colon == std::string_view::npos) {
    throw Error("console address '" + shown + "' is not off, HOST:PORT or unix:PATH");
  }
  std::string_view host = text.substr(0, colon);
  const std::string_view port = text.substr(colon + 1);
  bool v6 = false;
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
    v6 = true;
  }
  a.host = std::string(host);
  if (!numeric_address(a.host, v6)) {
    throw Error("console address '" + shown + "': '" + a.host + "' is not a numeric " +
                (v6 ? "IPv6" : "IPv4") + " address" + (v6 ? "" : " (IPv6 is written [ADDR]:PORT)"));
  }
  unsigned value = 0;
  const auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
  if (port.empty() || ec != std::errc() || end != port.data() + port.size() || value > 65535) {
    throw Error("console address '" + shown + "': port '" + std::string(port.substr(0, 20)) +
                "' is not a number 0..65535 (0 = pick a free port)");
  }
  a.port = static_cast<uint16_t>(value);
  return a;
}

std::string ConsoleAddress::to_string() const {
  switch (kind) {
    case Kind::Off:
      return "off";
    case Kind::Unix:
      return "unix:" + path;
    case Kind::Tcp:
      break;
  }
  const bool v6 = host.find(':') != std::string::npos;
  return (v6 ? "[" + host + "]" : host) + ":" + std::to_string(port);
}

}  // namespace xvgpu::dm
