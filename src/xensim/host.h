// xensim::Host: a simulated Xen 4.17 host (domains, p2m, ioreq servers, event channels,
// xenstore, failure injection).
//
// In-process form: construct a Host in a test; the Xen C API symbols of the xensim_inproc
// library (xendevicemodel_*, xenforeignmemory_*, xenevtchn_*, xentoolcore_*, xc_*, xs_*)
// then talk to it directly, and xensim::Guest(host) drives the guest side. Across processes
// the same Host runs inside xensimd and both sides reach it over a UNIX socket.
//
// Every client (a library handle, a guest connection) is a Session; all requests go through
// dispatch(), so the in-process and the cross-process forms run the same code.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <span>
#include <string_view>

#include "xensim/protocol.h"

namespace xensim {

struct HostOptions {
  // An ioreq left unanswered this long is reported as a hung vCPU (Guest::status()).
  std::chrono::milliseconds hang_timeout{2000};
  // Make this host the one the in-process C API talks to (Host::in_process()).
  bool register_in_process = true;
};

class HostImpl;

// One client of the host: a Xen library handle or a guest-side connection.
class Session {
  struct Key {};  // only the Host creates sessions

 public:
  Session(Key /*key*/, HostImpl* host) : host_(host) {}
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;
  ~Session();  // releases what the client held (event channels, watches), like closing an fd

 private:
  friend class Host;
  HostImpl* host_;
};

class Host {
 public:
  explicit Host(HostOptions options = {});
  ~Host();
  Host(const Host&) = delete;
  Host& operator=(const Host&) = delete;

  // The host the in-process C API uses (the last registered one still alive), or nullptr.
  static Host* in_process();

  // A new client session. Sessions must be released before the Host is destroyed.
  std::shared_ptr<Session> open_session();
  // Executes one request for a session. Never throws: malformed requests answer EINVAL.
  Reply dispatch(Session& session, Op op, std::span<const uint8_t> payload);

  // Failure injection on the host side: the Nth use of the named call (from any client)
  // fails with err; sticky = every use from the Nth on. Names are the Xen function names.
  void inject_failure(std::string_view call, int err, uint64_t nth, bool sticky = false);
  void clear_failures();
  void set_hang_timeout(std::chrono::milliseconds t);

  // Destroys every domain, waking every vCPU blocked on an ioreq (daemon shutdown).
  void stop();

  // xensimd: set by control_shutdown_daemon.
  [[nodiscard]] bool shutdown_requested() const;

  HostImpl& impl() { return *impl_; }

 private:
  std::unique_ptr<HostImpl> impl_;
};

}  // namespace xensim
