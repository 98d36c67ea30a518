// What a VNC client sends to a vGPU's console, end to end, and the console's own client-side
// decisions. Each input starts with a selector byte:
//   0: the rest is sent as raw bytes on a new connection to a real VncConsole (libvncserver's
//      protocol handling behind our acceptor, hold/start and client policy): the opening and
//      handshake;
//   3: the rest follows a well-formed handshake (RFB 3.8, security None, shared): the client
//      messages a connected viewer sends (pixel formats, encodings, update requests, keys,
//      pointer, cut text), which reach the console's input and update hooks;
//   either way the console, showing a simgpu vGPU in a 64x48 mode (the protocol is the target,
//   not the pixels: a small frame keeps each client's first full refresh cheap), must still greet
//   clients with an RFB version;
//   1: ClientPolicy gets a sequence of observations (totals that may run backwards, clocks that
//      jump) and its verdicts must be consistent;
//   2: the text is parsed as a console address whose canonical form must parse back to it.
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "common/error.h"
#include "common/unique_fd.h"
#include "control/console_address.h"
#include "dm/console/client_policy.h"
#include "dm/console/vnc_console.h"
#include "fuzz_input.h"
#include "simgpu_harness.h"
#include "support/temp_dir.h"

namespace {

using namespace xvgpu;

struct Console {
  fuzz::SimgpuHarness& harness = fuzz::SimgpuHarness::at_power_on(true);
  TempDir dir{"vnc-client-fuzz"};
  std::string path;
  std::unique_ptr<dm::VncConsole> console;
  Console() {
    harness.enumerate();
    auto dispi = [&](unsigned index, uint16_t v) {
      harness.mmio_write(fuzz::kBar2 + 0x500 + index * 2, 2, v);
    };
    dispi(4, 0);
    dispi(3, 32);
    dispi(1, 64);
    dispi(2, 48);
    dispi(4, 0x41);
    (void)harness.mmio_read(fuzz::kBar2 + 0x41a, 1);
    harness.mmio_write(fuzz::kBar2 + 0x400, 1, 0x20);
    path = (dir.path() / "console.sock").string();
    dm::ConsoleOptions o;
    o.address = dm::ConsoleAddress::parse("unix:" + path);
    o.limits.handshake_timeout = std::chrono::milliseconds(500);
    // Room for the clients of earlier inputs that the console has not reaped yet, so that a new
    // input is not turned away for them.
    o.max_clients = 32;
    auto shared = std::shared_ptr<gpu::Vgpu>(std::shared_ptr<gpu::Vgpu>{}, &harness.vgpu());
    console = std::make_unique<dm::VncConsole>(shared, o);
  }
  UniqueFd connect() const {
    UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    sockaddr_un a{};
    a.sun_family = AF_UNIX;
    std::memcpy(a.sun_path, path.c_str(), path.size() + 1);
    if (::connect(fd.get(), reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
      std::fprintf(stderr, "vnc_client fuzzer: connect to the console: %s\n", std::strerror(errno));
      std::abort();
    }
    return fd;
  }
};

// Reads until `want` bytes arrived, the peer closes or `ms` pass; the bytes read.
std::string read_some(int fd, size_t want, int ms) {
  std::string got;
  const auto end = std::chrono::steady_clock::now() + std::chrono::milliseconds(ms);
  while (got.size() < want) {
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(end - std::chrono::steady_clock::now());
    if (left.count() <= 0) return got;
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) return got;
    char buf[4096];
    const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n <= 0) return got;
    if (got.size() < 65536) got.append(buf, static_cast<size_t>(n));
  }
  return got;
}

// Sends `size` bytes on a new connection, ends the stream and reads until the console closes
// its side; true if the console greeted the client with its RFB version.
bool greeted(const Console& c, const uint8_t* data, size_t size) {
  UniqueFd fd = c.connect();
  size_t off = 0;
  while (off < size) {
    const ssize_t n = ::send(fd.get(), data + off, size - off, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n <= 0) break;
    off += static_cast<size_t>(n);
  }
  // End of input: the console reads everything sent, then sees the client leave and closes
  // its side, which ends this read without guessing how long processing takes.
  (void)::shutdown(fd.get(), SHUT_WR);
  return read_some(fd.get(), SIZE_MAX, 2000).starts_with("RFB 003.");
}

Console& console() {
  static Console c;
  return c;
}

void raw_bytes(const uint8_t* data, size_t size) {
  // One to three bytes and the end of the stream: libvncserver's first-bytes peek spins on them
  // until the console's client watchdog ends it, a second later (ClientWatchdog's unit test and
  // the hostile clients of tests/console cover that path). Each such input would cost
  // the fuzzer a second and tell it nothing new.
  if (size > 0 && size < 4) return;
  const Console& c = console();
  // A console that greets this client still serves. It sends its version before reading a byte,
  // unless the client's first bytes end libvncserver's WebSocket check (none at all, a broken
  // "GET" or TLS opening) or the acceptor turned the connection away while the previous input's
  // client still held a slot: then a probe that opens like a viewer must be greeted, tried again
  // for up to 5 s.
  if (greeted(c, data, size)) return;
  static constexpr uint8_t kViewer[] = {'R', 'F', 'B', ' ', '0', '0', '3', '.', '0', '0', '8', '\n'};
  const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (!greeted(c, kViewer, sizeof kViewer)) {
    if (std::chrono::steady_clock::now() > give_up) {
      const dm::ConsoleCounters k = c.console->counters();
      std::fprintf(
          stderr,
          "vnc_client fuzzer: the console stopped answering new clients (clients now %u, total %llu, "
          "refused %llu, dropped %llu)\n",
          k.clients_now, static_cast<unsigned long long>(k.clients_total),
          static_cast<unsigned long long>(k.refused), static_cast<unsigned long long>(k.dropped));
      std::abort();
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
}

// A client whose handshake succeeds, then the input as its messages.
void session(const uint8_t* data, size_t size) {
  static constexpr uint8_t kHandshake[] = {'R', 'F', 'B', ' ', '0', '0', '3', '.', '0', '0', '8', '\n',
                                           1,   // security type None
                                           1};  // ClientInit: shared
  std::vector<uint8_t> bytes(std::begin(kHandshake), std::end(kHandshake));
  bytes.insert(bytes.end(), data, data + size);
  raw_bytes(bytes.data(), bytes.size());
}

void policy(fuzz::FuzzInput& in) {
  dm::ClientLimits limits;
  limits.handshake_timeout = std::chrono::milliseconds(in.u16());
  limits.max_bytes_per_second = in.u32();
  limits.max_update_requests_per_second = in.u16();
  const auto t0 = std::chrono::steady_clock::time_point{} + std::chrono::hours(1);
  dm::ClientPolicy p(limits, t0);
  auto now = t0;
  while (!in.empty()) {
    now += std::chrono::milliseconds(in.u16());
    const bool done = in.flag();
    const uint64_t bytes = in.u64();
    const uint64_t requests = in.u64();
    const dm::ClientVerdict v = p.observe(now, done, bytes, requests);
    if (v == dm::ClientVerdict::DropSlowHandshake && (done || now - t0 <= limits.handshake_timeout))
      std::abort();
    (void)dm::to_string(v);
  }
}

void address(fuzz::FuzzInput& in) {
  const std::string text = in.text(255);
  dm::ConsoleAddress a;
  try {
    a = dm::ConsoleAddress::parse(text);
  } catch (const Error&) {
    return;
  }
  if (!(dm::ConsoleAddress::parse(a.to_string()) == a)) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  switch (data[0] % 4) {
    case 0:
      raw_bytes(data + 1, std::min<size_t>(size - 1, 1 << 16));
      break;
    case 3:
      session(data + 1, std::min<size_t>(size - 1, 1 << 16));
      break;
    case 1: {
      fuzz::FuzzInput in(data + 1, size - 1);
      policy(in);
      break;
    }
    case 2: {
      fuzz::FuzzInput in(data + 1, size - 1);
      address(in);
      break;
    }
  }
  return 0;
}
