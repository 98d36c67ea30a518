// The shared libraries' transport: always xensimd's socket ($XENSIM_SOCKET).
#include "xensim/transport.h"

namespace xensim {

std::unique_ptr<Transport> open_transport(SessionKind kind, std::vector<xvgpu::UniqueFd>* hello_fds) {
  return hello(connect_socket(default_socket_path()), kind, hello_fds);
}

}  // namespace xensim
