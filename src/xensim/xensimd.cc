// xensimd: the simulated Xen host as a process. Device models (through the replacement
// libraries in ${XENSIM_LIBDIR}) and guests (xensim::Guest, the xensim CLI) connect to its
// UNIX socket; each connection is one session served by its own thread.
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <atomic>
#include <csignal>
#include <cstring>
#include <list>
#include <thread>

#include "common/unique_fd.h"
#include "xensim/host.h"
#include "xensim/program_main.h"
#include "xensim/transport.h"

namespace {

std::atomic<bool> g_signalled{false};
void on_signal(int /*sig*/) {
  g_signalled = true;
}

struct Connection {
  xvgpu::UniqueFd fd;
  std::thread thread;
  std::atomic<bool> done{false};
};

void serve(xensim::Host& host, Connection& c) {
  auto session = host.open_session();
  std::vector<uint8_t> payload;
  for (;;) {
    xensim::RequestHeader h{};
    if (!xensim::recv_exact(c.fd.get(), &h, sizeof h, nullptr)) {
      break;
    }
    if (h.len > xensim::kMaxMessage) {
      break;  // a broken client: drop it
    }
    payload.resize(h.len);
    if (h.len != 0 && !xensim::recv_exact(c.fd.get(), payload.data(), h.len, nullptr)) {
      break;
    }
    xensim::Reply r = host.dispatch(*session, static_cast<xensim::Op>(h.op), payload);
    xensim::ReplyHeader rh{r.rc, r.err, static_cast<uint32_t>(r.data.size()),
                           static_cast<uint32_t>(r.fds.size())};
    std::vector<int> fds;
    for (const auto& f : r.fds) {
      fds.push_back(f.get());
    }
    if (!xensim::send_message(c.fd.get(), &rh, sizeof rh, r.data, fds)) {
      break;
    }
  }
  session.reset();
  c.done = true;
}

xvgpu::UniqueFd listen_on(const std::string& path) {
  xvgpu::UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (!fd || path.size() >= sizeof addr.sun_path) {
    return {};
  }
  std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
  // A stale socket from a dead daemon is replaced; a live one is left alone.
  if (xensim::connect_socket(path)) {
    (void)std::fprintf(stderr, "xensimd: another xensimd is already listening on %s\n", path.c_str());
    return {};
  }
  ::unlink(path.c_str());
  if (::bind(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 || ::listen(fd.get(), 64) != 0) {
    (void)std::fprintf(stderr, "xensimd: cannot listen on %s: %s\n", path.c_str(), std::strerror(errno));
    return {};
  }
  ::chmod(path.c_str(), 0600);
  return fd;
}

}  // namespace

namespace {
int run(int argc, char** argv) {
  CLI::App app{"xensimd: a simulated Xen 4.17 host (see docs/xensim.md)"};
  std::string socket_path = xensim::default_socket_path();
  unsigned hang_ms = 2000;
  app.add_option("--socket", socket_path,
                 "UNIX socket to listen on (default: $XENSIM_SOCKET or /tmp/xensim-<uid>.sock)");
  app.add_option("--hang-timeout-ms", hang_ms, "report a vCPU hung after an ioreq is unanswered this long");
  CLI11_PARSE(app, argc, argv);

  (void)std::signal(SIGPIPE, SIG_IGN);
  (void)std::signal(SIGTERM, on_signal);
  (void)std::signal(SIGINT, on_signal);

  xensim::HostOptions opts;
  opts.hang_timeout = std::chrono::milliseconds(hang_ms);
  opts.register_in_process = false;
  xensim::Host host(opts);
  xvgpu::UniqueFd lfd = listen_on(socket_path);
  if (!lfd) {
    return 1;
  }
  (void)std::fprintf(stderr, "xensimd: listening on %s (pid %d)\n", socket_path.c_str(), ::getpid());

  std::list<Connection> conns;
  while (!g_signalled && !host.shutdown_requested()) {
    pollfd p{lfd.get(), POLLIN, 0};
    if (::poll(&p, 1, 100) > 0) {
      xvgpu::UniqueFd cfd(::accept4(lfd.get(), nullptr, nullptr, SOCK_CLOEXEC));
      if (cfd) {
        auto& c = conns.emplace_back();
        c.fd = std::move(cfd);
        c.thread = std::thread([&host, &c] { serve(host, c); });
      }
    }
    for (auto it = conns.begin(); it != conns.end();) {
      if (it->done) {
        it->thread.join();
        it = conns.erase(it);
      } else {
        ++it;
      }
    }
  }
  // Wake every blocked vCPU, drop every client, then leave.
  ::unlink(socket_path.c_str());
  lfd.reset();
  host.stop();
  for (auto& c : conns) {
    ::shutdown(c.fd.get(), SHUT_RDWR);
  }
  for (auto& c : conns) {
    c.thread.join();
  }
  conns.clear();
  (void)std::fprintf(stderr, "xensimd: stopped\n");
  return 0;
}
}  // namespace

int main(int argc, char** argv) {
  return xvgpu::xensim::program_main(argc, argv, run);
}
