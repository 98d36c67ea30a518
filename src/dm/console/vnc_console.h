// One vGPU's live console: a VNC server (Debian's libvncserver, which also speaks WebSocket for
// noVNC) showing head 0 of the vGPU.
//
// One thread of its own serves it (not the ioreq loop's): it polls the listening socket, the
// connections still opening and the clients' sockets together, and makes every libvncserver call
// after construction: admitting a client once it spoke or waited long enough (OpeningWait),
// reading its messages when its socket is readable, sending the updates it asked for, refreshing
// the framebuffer every poll interval while clients are connected (new clients are held until it
// is up to date, so their first frame already has the current size), enforcing the client policy
// and tearing down. libvncserver's state is thus never touched by two threads (its own threaded
// mode lets a client's input thread change the pixel format an update to it is being encoded in).
// A refresh asks the core what changed (Vgpu::display_update: the hypervisor's dirty pages of the
// scan-out plus the vendor's damage) and copies those rectangles from VRAM into the framebuffer.
// One client's call can hold the others up for at most a bounded time (ClientWatchdog, on a
// second thread), and a client the console keeps waiting for is dropped. The guest is never
// waited for: the only lock shared with the loop is the vGPU's instance lock, held for one
// surface query and one dirty-log read per refresh.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "common/unique_fd.h"
#include "dm/console/client_policy.h"
#include "dm/console/client_watchdog.h"
#include "dm/console/console_listener.h"
#include "dm/console/qmp_input.h"
#include "gpu/vgpu.h"

// libvncserver's own struct names (rfb/rfb.h stays out of this header: it defines macros).
struct _rfbScreenInfo;  // NOLINT(bugprone-reserved-identifier)
struct _rfbClientRec;   // NOLINT(bugprone-reserved-identifier)

namespace xvgpu::dm {

class OpeningWait;

struct ConsoleOptions {
  ConsoleAddress address;
  std::optional<std::string> password;  // VNC authentication when set (first 8 bytes count)
  unsigned max_clients = 4;
  std::chrono::milliseconds poll_interval{33};  // dirty-log polls while clients are connected
  ClientLimits limits;
  std::shared_ptr<InputSink> input;  // where clients' keys and pointer go (none: ignored)
};

struct ConsoleCounters {
  uint64_t refreshes = 0;
  uint64_t rects_sent = 0;     // rectangles copied and marked
  uint64_t resizes = 0;        // desktop-size changes
  uint64_t clients_total = 0;  // connections handed to libvncserver
  uint64_t refused = 0;        // beyond the client limit
  uint64_t dropped = 0;        // by the client policy
  uint64_t cut = 0;            // clients whose call held the others up too long (ClientWatchdog)
  unsigned clients_now = 0;
};

class VncConsole {
 public:
  // Opens the listener now (throws SystemError/Error naming the address); serves until destroyed.
  VncConsole(std::shared_ptr<gpu::Vgpu> vgpu, ConsoleOptions options);
  // Disconnects every client and stops the thread; the vGPU must still exist.
  ~VncConsole();
  VncConsole(const VncConsole&) = delete;
  VncConsole& operator=(const VncConsole&) = delete;

  // "127.0.0.1:5901" or "unix:/path": what a viewer connects to.
  [[nodiscard]] std::string where() const { return listener_.bound.to_string(); }
  [[nodiscard]] bool authenticated() const { return options_.password.has_value(); }
  [[nodiscard]] bool has_input() const { return options_.input != nullptr; }
  // The input sink's counts (InputSink::status), an empty object without one.
  [[nodiscard]] nlohmann::json input_status() const {
    return options_.input ? options_.input->status() : nlohmann::json::object();
  }
  [[nodiscard]] ConsoleCounters counters() const;

 private:
  struct ClientInfo;
  static int on_new_client(_rfbClientRec* cl);
  static void on_client_gone(_rfbClientRec* cl);
  static void on_update_request(_rfbClientRec* cl, void* request);
  static void on_key(bool down, uint32_t keysym, _rfbClientRec* cl);
  static void on_pointer(int buttons, int x, int y, _rfbClientRec* cl);

  void serve_loop();
  [[nodiscard]] int poll_timeout_ms(const OpeningWait& opening) const;
  void accept_one(OpeningWait& opening);
  _rfbClientRec* admit(UniqueFd fd);
  void serve_messages(_rfbClientRec* cl);
  void send_updates();
  void reap_closed();
  void refresh(bool full);
  void show(uint32_t width, uint32_t height);
  void police_clients();
  void close_all();

  std::shared_ptr<gpu::Vgpu> vgpu_;
  ConsoleOptions options_;
  ConsoleListener listener_;
  UniqueFd stop_fd_;  // eventfd: wakes the serving thread to stop
  _rfbScreenInfo* screen_ = nullptr;
  std::vector<char> password_storage_;
  std::vector<char*> password_list_;

  // Serving-thread state.
  // Sized once for the type's largest mode, so it never moves. A surface larger than the type
  // declares is not shown.
  std::vector<uint32_t> framebuffer_;
  uint32_t shown_width_ = 640;  // the size clients see, for scaling pointer positions
  uint32_t shown_height_ = 480;
  std::optional<gpu::DisplaySurface> shown_;
  std::vector<_rfbClientRec*> clients_;  // admitted and not yet gone, in admission order
  std::chrono::steady_clock::time_point next_refresh_{};
  std::chrono::steady_clock::time_point last_policed_{};
  bool full_refresh_ = true;

  mutable std::mutex mu_;
  ConsoleCounters counters_;  // written by the serving thread, read by any

  ClientWatchdog watchdog_;
  std::thread server_;
};

}  // namespace xvgpu::dm
