// How a client (a Xen library handle, the guest API) reaches the host: directly in-process
// or over xensimd's UNIX socket. Both carry the same requests (protocol.h).
#pragma once

#include <memory>
#include <mutex>
#include <span>
#include <string>

#include "xensim/protocol.h"

namespace xensim {

class Host;
class Session;

class Transport {
 public:
  virtual ~Transport() = default;
  // Never throws; a lost daemon connection answers ECONNRESET.
  virtual Reply call(Op op, std::span<const uint8_t> payload) = 0;
  Reply call(Op op, const Writer& w) { return call(op, std::span<const uint8_t>(w.data())); }
};

// The socket xensimd listens on: $XENSIM_SOCKET, else /tmp/xensim-<uid>.sock.
std::string default_socket_path();

std::unique_ptr<Transport> connect_in_process(Host& host);
// nullptr with errno set when the daemon is not reachable.
std::unique_ptr<Transport> connect_socket(const std::string& path);

// For the C API: a transport for one library handle, already introduced with hello (its
// fds, if any, are returned in hello_fds). The in-process library uses the registered
// in-process Host when there is one, else the socket; the shared libraries use the socket.
// nullptr with errno set on failure.
std::unique_ptr<Transport> open_transport(SessionKind kind, std::vector<xvgpu::UniqueFd>* hello_fds);

// Introduces a new transport as a handle of that kind (nullptr + errno on failure).
std::unique_ptr<Transport> hello(std::unique_ptr<Transport> t, SessionKind kind,
                                 std::vector<xvgpu::UniqueFd>* fds);

// Wire helpers for xensimd and the socket client.
bool send_message(int fd, const void* hdr, size_t hdr_len, std::span<const uint8_t> payload,
                  std::span<const int> fds);
bool recv_exact(int fd, void* buf, size_t len, std::vector<xvgpu::UniqueFd>* fds);

}  // namespace xensim
