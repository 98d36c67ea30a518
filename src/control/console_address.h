// Where a vGPU's console listens, as an operator writes it (spec key vnc=, xvgpuctl define
// --vnc): "off", "HOST:PORT" ("[V6ADDR]:PORT" for IPv6; port 0 = a free port picked at start) or
// "unix:PATH". The default is loopback on a free port: never every address unless asked.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace xvgpu::dm {

struct ConsoleAddress {
  enum class Kind : uint8_t { Off, Tcp, Unix };
  Kind kind = Kind::Tcp;
  std::string host = "127.0.0.1";  // numeric address (Tcp)
  uint16_t port = 0;               // Tcp; 0 = pick a free one
  std::string path;                // Unix

  // Throws Error naming what is wrong.
  static ConsoleAddress parse(std::string_view text);
  // The operator's form ("127.0.0.1:5901", "[::1]:0", "unix:/run/x.sock", "off").
  [[nodiscard]] std::string to_string() const;
  bool operator==(const ConsoleAddress&) const = default;
};

}  // namespace xvgpu::dm
