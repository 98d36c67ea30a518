#include "dm/console/vnc_console.h"

#include <poll.h>
#include <sys/eventfd.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <rfb/rfb.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstdarg>
#include <cstdio>
#include <cstring>
#include <mutex>
#include <shared_mutex>
#include <span>

#include "common/error.h"
#include "common/rate_limited_log.h"
#include "dm/console/frame_copy.h"
#include "dm/console/opening_wait.h"

namespace xvgpu::dm {

namespace {

constexpr uint32_t kFallbackMaxWidth = 2560;
constexpr uint32_t kFallbackMaxHeight = 1600;
// How long libvncserver waits for a client's next bytes before dropping it (global; its writes
// wait in steps of 5 s whatever this says). Every other viewer of the console waits meanwhile.
constexpr int kMaxClientWaitMs = 1000;
// The longest one libvncserver call on one client may hold the serving thread (ClientWatchdog):
// far longer than a viewer that is not stuck needs to send a message, complete its opening or
// take one update over a local or tunnelled link.
constexpr auto kClientStall = std::chrono::milliseconds(1000);
constexpr auto kPolicePeriod = std::chrono::milliseconds(250);
// How much of each second the serving thread may spend waiting for one client in its calls:
// calls just under kClientStall each, one after another, would otherwise slow every other viewer
// down for good. Time spent encoding for it is not counted (a busy screen is not the client's
// fault).
constexpr auto kMaxWaitPerSecond = std::chrono::milliseconds(500);
// How long a new connection may take to speak first (a browser's WebSocket opening) before it is
// taken for an RFB viewer, and how many may be opening at once (OpeningWait).
constexpr auto kOpeningWait = std::chrono::milliseconds(500);
constexpr size_t kMaxOpening = 32;

RateLimiter g_vnc_log{20};

// libvncserver has one client-list mutex for all its screens, initialised again by each new
// screen (rfbGetScreen) and torn down by each cleanup: creating or closing a console must not
// overlap another console's library calls. Serving threads share the lock; creation and cleanup
// hold it alone.
std::shared_mutex g_library_screens;

// libvncserver's printf-style log line, without its trailing newlines.
__attribute__((format(printf, 1, 0))) std::string vnc_message(const char* format, va_list ap) {
  char buf[512];
  // The analyser checks this function alone; ap comes from the caller's va_start.
  (void)std::vsnprintf(buf, sizeof buf, format, ap);  // NOLINT(clang-analyzer-valist.Uninitialized)
  std::string_view msg(buf);
  while (!msg.empty() && msg.back() == '\n') msg.remove_suffix(1);
  return std::string(msg);
}

__attribute__((format(printf, 1, 2))) void vnc_log(const char* format, ...) {
  va_list ap;
  va_start(ap, format);
  const std::string msg = vnc_message(format, ap);
  va_end(ap);
  spdlog::debug("vnc: {}", msg);
}

__attribute__((format(printf, 1, 2))) void vnc_err(const char* format, ...) {
  va_list ap;
  va_start(ap, format);
  const std::string msg = vnc_message(format, ap);
  va_end(ap);
  XVGPU_LOG_LIMITED(g_vnc_log, spdlog::level::warn, "vnc: {}", msg);
}

void init_library_once() {
  static std::once_flag once;
  std::call_once(once, [] {
    rfbLog = vnc_log;
    rfbErr = vnc_err;
    rfbMaxClientWait = kMaxClientWaitMs;
  });
}

// How long a call waited (for a client's socket, or for a CPU): its wall time less the CPU time
// this thread used.
class CallClock {
 public:
  CallClock() : wall_(std::chrono::steady_clock::now()), cpu_(thread_cpu()) {}
  [[nodiscard]] std::chrono::nanoseconds waited() const {
    const auto wall = std::chrono::steady_clock::now() - wall_;
    return std::max(std::chrono::nanoseconds{0}, wall - (thread_cpu() - cpu_));
  }

 private:
  static std::chrono::nanoseconds thread_cpu() {
    timespec ts{};
    (void)::clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return std::chrono::seconds(ts.tv_sec) + std::chrono::nanoseconds(ts.tv_nsec);
  }
  std::chrono::steady_clock::time_point wall_;
  std::chrono::nanoseconds cpu_;
};

int ms_until(std::chrono::steady_clock::time_point t, std::chrono::steady_clock::time_point now) {
  if (t <= now) return 0;
  return static_cast<int>(std::chrono::ceil<std::chrono::milliseconds>(t - now).count());
}

}  // namespace

struct VncConsole::ClientInfo {
  ClientInfo(VncConsole* c, const ClientLimits& limits)
      : console(c), policy(limits, std::chrono::steady_clock::now()) {}
  VncConsole* console;
  ClientPolicy policy;
  uint64_t update_requests = 0;
  // How long its calls waited for it since waited_since (CallClock).
  std::chrono::nanoseconds waited{};
  std::chrono::steady_clock::time_point waited_since = std::chrono::steady_clock::now();
};

VncConsole::VncConsole(std::shared_ptr<gpu::Vgpu> vgpu, ConsoleOptions options)
    : vgpu_(std::move(vgpu)),
      options_(std::move(options)),
      listener_(open_console_listener(options_.address)),
      watchdog_(kClientStall) {
  init_library_once();
  stop_fd_ = UniqueFd(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  if (!stop_fd_) throw SystemError(errno, "console: eventfd");
  const uint32_t max_w = vgpu_->type().max_width != 0 ? vgpu_->type().max_width : kFallbackMaxWidth;
  const uint32_t max_h = vgpu_->type().max_height != 0 ? vgpu_->type().max_height : kFallbackMaxHeight;
  framebuffer_.assign(size_t{max_w} * max_h, 0);

  std::unique_lock screens(g_library_screens);
  int argc = 0;
  screen_ = rfbGetScreen(&argc, nullptr, 640, 480, 8, 3, 4);
  if (screen_ == nullptr) throw Error("console: libvncserver could not create a screen");
  screen_->frameBuffer = reinterpret_cast<char*>(framebuffer_.data());
  screen_->desktopName = "xvgpu";
  screen_->port = 0;  // the listener is ours (rfbInitServer must not open 5900)
  screen_->ipv6port = 0;
  screen_->httpPort = 0;
  screen_->autoPort = FALSE;
  screen_->alwaysShared = TRUE;     // several viewers at once, none kicks the others out
  screen_->backgroundLoop = FALSE;  // no thread of libvncserver's own: serve_loop calls it all
  screen_->deferUpdateTime = 0;     // an update goes out as soon as it may
  screen_->deferPtrUpdateTime = 0;  // and pointer events are handed on as they come
  screen_->screenData = this;
  screen_->newClientHook = [](rfbClientPtr cl) { return static_cast<rfbNewClientAction>(on_new_client(cl)); };
  screen_->permitFileTransfer = FALSE;
  screen_->cursor = nullptr;  // the guest draws its own: no server-side cursor over its pixels
  // Input: handed to the sink (which only queues); without one, libvncserver's defaults drop it.
  if (options_.input) {
    screen_->kbdAddEvent = [](rfbBool down, rfbKeySym key, rfbClientPtr cl) {
      on_key(down != FALSE, key, cl);
    };
    screen_->ptrAddEvent = [](int mask, int x, int y, rfbClientPtr cl) { on_pointer(mask, x, y, cl); };
  }
  if (options_.password) {
    password_storage_.assign(options_.password->begin(), options_.password->end());
    password_storage_.push_back('\0');
    password_list_ = {password_storage_.data(), nullptr};
    screen_->authPasswdData = password_list_.data();
    screen_->passwordCheck = rfbCheckPasswordByList;
  }
  rfbInitServer(screen_);
  screens.unlock();
  server_ = std::thread([this] { serve_loop(); });
}

VncConsole::~VncConsole() {
  const uint64_t one = 1;
  (void)!::write(stop_fd_.get(), &one, sizeof one);
  if (server_.joinable()) server_.join();
}

ConsoleCounters VncConsole::counters() const {
  ConsoleCounters c;
  {
    std::lock_guard lock(mu_);
    c = counters_;
  }
  c.cut = watchdog_.cut();
  return c;
}

int VncConsole::on_new_client(_rfbClientRec* cl) {
  auto* self = static_cast<VncConsole*>(cl->screen->screenData);
  std::lock_guard lock(self->mu_);
  if (self->counters_.clients_now >= self->options_.max_clients) {
    ++self->counters_.refused;
    return RFB_CLIENT_REFUSE;
  }
  auto info = std::make_unique<ClientInfo>(self, self->options_.limits);
  cl->clientData = info.release();
  cl->clientGoneHook = &VncConsole::on_client_gone;
  cl->clientFramebufferUpdateRequestHook = [](rfbClientPtr c, rfbFramebufferUpdateRequestMsg* m) {
    on_update_request(c, m);
  };
  self->clients_.push_back(cl);
  ++self->counters_.clients_now;
  ++self->counters_.clients_total;
  // Held until the framebuffer is up to date (serve_loop).
  return RFB_CLIENT_ON_HOLD;
}

void VncConsole::on_update_request(_rfbClientRec* cl, void* /*request*/) {
  if (auto* info = static_cast<ClientInfo*>(cl->clientData)) ++info->update_requests;
}

void VncConsole::on_key(bool down, uint32_t keysym, _rfbClientRec* cl) {
  auto* self = static_cast<VncConsole*>(cl->screen->screenData);
  if (cl->viewOnly == FALSE) self->options_.input->key(keysym, down);
}

void VncConsole::on_pointer(int buttons, int x, int y, _rfbClientRec* cl) {
  auto* self = static_cast<VncConsole*>(cl->screen->screenData);
  if (cl->viewOnly != FALSE) return;
  self->options_.input->pointer(static_cast<uint8_t>(buttons), static_cast<uint32_t>(std::max(0, x)),
                                static_cast<uint32_t>(std::max(0, y)), self->shown_width_,
                                self->shown_height_);
}

void VncConsole::on_client_gone(_rfbClientRec* cl) {
  std::unique_ptr<ClientInfo> info(static_cast<ClientInfo*>(cl->clientData));
  cl->clientData = nullptr;
  if (!info) return;
  VncConsole* self = info->console;
  std::erase(self->clients_, cl);
  std::lock_guard lock(self->mu_);
  --self->counters_.clients_now;
}

void VncConsole::serve_loop() {
  OpeningWait opening(kOpeningWait, kMaxOpening);
  std::vector<pollfd> fds;
  std::vector<rfbClientPtr> polled;  // the clients whose sockets follow the opening ones in fds
  std::vector<rfbClientPtr> held;
  for (;;) {
    fds.assign({{listener_.fd.get(), POLLIN, 0}, {stop_fd_.get(), POLLIN, 0}});
    opening.add_poll_fds(fds);
    const size_t first_client = fds.size();
    polled.clear();
    for (rfbClientPtr cl : clients_) {
      if (cl->sock == RFB_INVALID_SOCKET || cl->onHold != FALSE) continue;
      fds.push_back({cl->sock, POLLIN, 0});
      polled.push_back(cl);
    }
    if (::poll(fds.data(), fds.size(), poll_timeout_ms(opening)) < 0) {
      if (errno == EINTR) continue;
      spdlog::error("console {}: poll: {}", where(), std::strerror(errno));
      break;
    }
    if (fds[1].revents != 0) break;
    const std::shared_lock library(g_library_screens);

    held.clear();
    const std::span<const pollfd> opening_fds(fds.data() + 2, first_client - 2);
    for (UniqueFd& fd : opening.take_ready(opening_fds, OpeningWait::Clock::now())) {
      if (rfbClientPtr cl = admit(std::move(fd))) held.push_back(cl);
    }
    if ((fds[0].revents & POLLIN) != 0) accept_one(opening);
    for (size_t i = 0; i < polled.size(); ++i) {
      if (fds[first_client + i].revents != 0 && polled[i]->sock != RFB_INVALID_SOCKET)
        serve_messages(polled[i]);
    }

    const auto now = std::chrono::steady_clock::now();
    if (!held.empty() || (!clients_.empty() && now >= next_refresh_)) {
      refresh(full_refresh_ || !held.empty());
      full_refresh_ = false;
      next_refresh_ = now + options_.poll_interval;
      for (rfbClientPtr cl : held) rfbStartOnHoldClient(cl);
    }
    send_updates();
    if (now - last_policed_ >= kPolicePeriod) {
      last_policed_ = now;
      police_clients();
    }
    reap_closed();
    if (clients_.empty()) full_refresh_ = true;  // nobody watched: start from a complete frame
  }
  close_all();
}

int VncConsole::poll_timeout_ms(const OpeningWait& opening) const {
  const auto now = std::chrono::steady_clock::now();
  int timeout = opening.poll_timeout_ms(now);
  if (!clients_.empty()) {
    const int due = ms_until(std::min(next_refresh_, last_policed_ + kPolicePeriod), now);
    timeout = timeout < 0 ? due : std::min(timeout, due);
  }
  return timeout;
}

void VncConsole::accept_one(OpeningWait& opening) {
  UniqueFd fd(::accept4(listener_.fd.get(), nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK));
  if (!fd) return;  // EAGAIN, ECONNABORTED, EMFILE (the limits below keep us far from it)
  std::lock_guard lock(mu_);
  // libvncserver keeps its clients' sockets in an fd_set: a descriptor past FD_SETSIZE would be
  // written beyond it (RLIMIT_NOFILE may exceed 1024 in a device model with many vGPUs).
  if (fd.get() >= FD_SETSIZE || counters_.clients_now >= options_.max_clients ||
      !opening.hold(std::move(fd), OpeningWait::Clock::now())) {
    ++counters_.refused;  // closed: over the limit, or too many still opening
  }
}

_rfbClientRec* VncConsole::admit(UniqueFd fd) {
  watchdog_.begin(fd.get());
  rfbClientPtr cl = rfbNewClient(screen_, fd.release());  // nullptr: refused and closed
  watchdog_.end();
  return cl;
}

void VncConsole::serve_messages(_rfbClientRec* cl) {
  const CallClock clock;
  watchdog_.begin(cl->sock);
  // A WebSocket client's frames may hold more than one message: all of them, not only the
  // first, before the socket is polled again.
  do {
    rfbProcessClientMessage(cl);
  } while (cl->sock != RFB_INVALID_SOCKET && webSocketsHasDataInBuffer(cl) != FALSE);
  watchdog_.end();
  if (auto* info = static_cast<ClientInfo*>(cl->clientData)) info->waited += clock.waited();
}

void VncConsole::send_updates() {
  for (rfbClientPtr cl : clients_) {
    if (cl->sock == RFB_INVALID_SOCKET || cl->onHold != FALSE) continue;
    const CallClock clock;
    watchdog_.begin(cl->sock);
    (void)rfbUpdateClient(cl);  // sends what it asked for and what changed, if anything
    watchdog_.end();
    if (auto* info = static_cast<ClientInfo*>(cl->clientData)) info->waited += clock.waited();
  }
}

void VncConsole::reap_closed() {
  std::vector<rfbClientPtr> closed;
  for (rfbClientPtr cl : clients_) {
    if (cl->sock == RFB_INVALID_SOCKET) closed.push_back(cl);
  }
  for (rfbClientPtr cl : closed) rfbClientConnectionGone(cl);  // on_client_gone forgets it
}

void VncConsole::show(uint32_t width, uint32_t height) {
  if (static_cast<uint32_t>(screen_->width) == width && static_cast<uint32_t>(screen_->height) == height)
    return;
  // Clients that support it get a desktop-size update; the buffer itself never moves.
  rfbNewFramebuffer(screen_, reinterpret_cast<char*>(framebuffer_.data()), static_cast<int>(width),
                    static_cast<int>(height), 8, 3, 4);
  shown_width_ = width;
  shown_height_ = height;
  std::lock_guard lock(mu_);
  ++counters_.resizes;
}

void VncConsole::refresh(bool full) {
  gpu::DisplayUpdate u;
  try {
    u = vgpu_->display_update(0);
  } catch (const std::exception& e) {
    u = {};  // no display (stopped vGPU, vendor without one, unknown format): shown as off
  }
  auto fits = [&](const gpu::DisplaySurface& s) {
    return uint64_t{s.width} * s.height <= framebuffer_.size() && s.width <= 0xffff && s.height <= 0xffff;
  };
  if (u.surface && !fits(*u.surface)) u.surface.reset();
  uint64_t rects = 0;
  if (!u.surface) {
    if (shown_ || full) {  // head turned off: one black frame of the last size
      std::fill_n(framebuffer_.begin(), size_t(screen_->width) * screen_->height, 0u);
      rfbMarkRectAsModified(screen_, 0, 0, screen_->width, screen_->height);
      rects = 1;
    }
    shown_.reset();
  } else {
    const gpu::DisplaySurface& s = *u.surface;
    const bool same = shown_ && shown_->fourcc == s.fourcc && shown_->width == s.width &&
                      shown_->height == s.height && shown_->stride == s.stride && shown_->bar == s.bar &&
                      shown_->offset == s.offset;
    if (full || !same || u.surface_changed) {
      show(s.width, s.height);
      (void)copy_to_framebuffer(s, {0, 0, s.width, s.height}, framebuffer_);
      rfbMarkRectAsModified(screen_, 0, 0, static_cast<int>(s.width), static_cast<int>(s.height));
      rects = 1;
    } else {
      for (const gpu::Rect& r : u.damage) {
        (void)copy_to_framebuffer(s, r, framebuffer_);
        rfbMarkRectAsModified(screen_, static_cast<int>(r.x), static_cast<int>(r.y),
                              static_cast<int>(r.x + r.width), static_cast<int>(r.y + r.height));
      }
      rects = u.damage.size();
    }
    shown_ = s;
  }
  std::lock_guard lock(mu_);
  ++counters_.refreshes;
  counters_.rects_sent += rects;
}

void VncConsole::police_clients() {
  const auto now = std::chrono::steady_clock::now();
  for (rfbClientPtr cl : clients_) {
    auto* info = static_cast<ClientInfo*>(cl->clientData);
    if (info == nullptr || cl->onHold != FALSE || cl->sock == RFB_INVALID_SOCKET) continue;
    const ClientVerdict v = info->policy.observe(now, cl->state == _rfbClientRec::RFB_NORMAL,
                                                 static_cast<uint64_t>(std::max(0, rfbStatGetRcvdBytes(cl))),
                                                 info->update_requests);
    const char* why = v != ClientVerdict::Keep ? to_string(v) : nullptr;
    if (now - info->waited_since >= std::chrono::seconds(1)) {
      if (info->waited > kMaxWaitPerSecond) why = "held the console up";
      info->waited = {};
      info->waited_since = now;
    }
    if (why == nullptr) continue;
    XVGPU_LOG_LIMITED(g_vnc_log, spdlog::level::warn, "console {}: client {} dropped: {}", where(),
                      cl->host != nullptr ? cl->host : "?", why);
    rfbCloseClient(cl);  // gone at the next reap
    std::lock_guard lock(mu_);
    ++counters_.dropped;
  }
}

void VncConsole::close_all() {
  const std::unique_lock library(g_library_screens);
  for (rfbClientPtr cl : clients_) {
    if (cl->sock != RFB_INVALID_SOCKET) rfbCloseClient(cl);
  }
  reap_closed();
  screen_->frameBuffer = nullptr;
  rfbScreenCleanup(screen_);
  screen_ = nullptr;
}

}  // namespace xvgpu::dm
