// The in-process transport: requests go straight to a Host in this process. Linked into
// xensim_inproc, whose C API prefers a registered in-process Host over the socket.
#include "xensim/host.h"
#include "xensim/transport.h"

namespace xensim {

namespace {

class InProcessTransport final : public Transport {
 public:
  explicit InProcessTransport(Host& h) : host_(h), session_(h.open_session()) {}
  Reply call(Op op, std::span<const uint8_t> payload) override {
    return host_.dispatch(*session_, op, payload);
  }

 private:
  Host& host_;
  std::shared_ptr<Session> session_;
};

}  // namespace

std::unique_ptr<Transport> connect_in_process(Host& host) {
  return std::make_unique<InProcessTransport>(host);
}

std::unique_ptr<Transport> open_transport(SessionKind kind, std::vector<xvgpu::UniqueFd>* hello_fds) {
  if (Host* h = Host::in_process()) {
    return hello(connect_in_process(*h), kind, hello_fds);
  }
  return hello(connect_socket(default_socket_path()), kind, hello_fds);
}

}  // namespace xensim
