// The listening socket of one console (TCP on the address asked for, or a UNIX socket), opened
// while xvgpu-dm may still create sockets (before seccomp).
#pragma once

#include <string>

#include "common/unique_fd.h"
#include "control/console_address.h"

namespace xvgpu::dm {

struct ConsoleListener {
  UniqueFd fd;
  ConsoleAddress bound;  // with the port the kernel picked for port 0
  ~ConsoleListener();    // removes the UNIX socket file it created
  ConsoleListener() = default;
  ConsoleListener(ConsoleListener&&) noexcept;
  ConsoleListener& operator=(ConsoleListener&&) = delete;
  ConsoleListener(const ConsoleListener&) = delete;
  ConsoleListener& operator=(const ConsoleListener&) = delete;
};

// Throws SystemError naming the address. A UNIX socket path that exists is replaced only when it
// is a socket (a previous run's); the socket is made accessible to its owner only (mode 0600).
ConsoleListener open_console_listener(const ConsoleAddress& address);

}  // namespace xvgpu::dm
