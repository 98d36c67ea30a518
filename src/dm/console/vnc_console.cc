#include "dm/console/vnc_console.h"

#include <poll.h>
#include <pthread.h>
#include <sys/eventfd.h>
#include <sys/socket.h>

#include <rfb/rfb.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "common/error.h"
#include "common/rate_limited_log.h"
#include "dm/console/frame_copy.h"
#include "dm/console/opening_wait.h"

namespace xvgpu::dm {

namespace {

constexpr uint32_t kFallbackMaxWidth = 2560;
constexpr uint32_t kFallbackMaxHeight = 1600;
// How long a blocked write to a client may wait before libvncserver drops it (global).
constexpr int kMaxClientWaitMs = 5000;
constexpr auto kPolicePeriod = std::chrono::milliseconds(250);
constexpr auto kTeardownWait = std::chrono::seconds(10);
// Longer than any admission of a client that is not stuck (libvncserver waits 100 ms for a silent
// client's first bytes).
constexpr auto kAdmissionStall = std::chrono::seconds(1);
// How long a new connection may take to speak first (a browser's WebSocket opening) before it is
// taken for an RFB viewer, and how many may be opening at once (OpeningWait).
constexpr auto kOpeningWait = std::chrono::milliseconds(500);
constexpr size_t kMaxOpening = 32;

RateLimiter g_vnc_log{20};

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

}  // namespace

struct VncConsole::ClientInfo {
  ClientInfo(VncConsole* c, const ClientLimits& limits)
      : console(c), policy(limits, std::chrono::steady_clock::now()) {}
  VncConsole* console;
  ClientPolicy policy;
  uint64_t update_requests = 0;  // written by the client's input thread, read by the refresher
  std::atomic<bool> dropped{false};
  bool started = false;  // its libvncserver threads run (set before they start)
};

VncConsole::VncConsole(std::shared_ptr<gpu::Vgpu> vgpu, ConsoleOptions options)
    : vgpu_(std::move(vgpu)),
      options_(std::move(options)),
      listener_(open_console_listener(options_.address)),
      admission_(kAdmissionStall) {
  init_library_once();
  stop_fd_ = UniqueFd(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  if (!stop_fd_) throw SystemError(errno, "console: eventfd");
  const uint32_t max_w = vgpu_->type().max_width != 0 ? vgpu_->type().max_width : kFallbackMaxWidth;
  const uint32_t max_h = vgpu_->type().max_height != 0 ? vgpu_->type().max_height : kFallbackMaxHeight;
  framebuffer_.assign(size_t{max_w} * max_h, 0);

  int argc = 0;
  screen_ = rfbGetScreen(&argc, nullptr, 640, 480, 8, 3, 4);
  if (screen_ == nullptr) throw Error("console: libvncserver could not create a screen");
  screen_->frameBuffer = reinterpret_cast<char*>(framebuffer_.data());
  screen_->desktopName = "xvgpu";
  screen_->port = 0;  // the listener is ours (rfbInitServer must not open 5900)
  screen_->ipv6port = 0;
  screen_->httpPort = 0;
  screen_->autoPort = FALSE;
  screen_->alwaysShared = TRUE;    // several viewers at once, none kicks the others out
  screen_->backgroundLoop = TRUE;  // a thread pair per client (rfbStartOnHoldClient)
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
  acceptor_ = std::thread([this] { accept_loop(); });
  refresher_ = std::thread([this] { refresh_loop(); });
}

VncConsole::~VncConsole() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  vgpu_->display_damage().interrupt();
  const uint64_t one = 1;
  (void)!::write(stop_fd_.get(), &one, sizeof one);
  if (acceptor_.joinable()) acceptor_.join();
  if (refresher_.joinable()) refresher_.join();
  // Clients still held have no threads: closed here, on this thread.
  std::vector<_rfbClientRec*> held;
  {
    std::lock_guard lock(mu_);
    held.swap(on_hold_);
  }
  for (_rfbClientRec* cl : held) {
    rfbCloseClient(cl);
    rfbClientConnectionGone(cl);
  }
  disconnect_all_and_wait();
}

ConsoleCounters VncConsole::counters() const {
  std::lock_guard lock(mu_);
  return counters_;
}

int VncConsole::on_new_client(_rfbClientRec* cl) {
  auto* self = static_cast<VncConsole*>(cl->screen->screenData);
  // A WebSocket client's path is read only during the handshake, which is over. With a thread
  // pair per client, rfbCloseClient frees it without clearing it, once per thread that meets the
  // dead socket: a client resetting mid-update gets both threads there, a double free that aborts
  // the device model. Freed and cleared here, every later free is of a null pointer.
  // NOLINTNEXTLINE(cppcoreguidelines-no-malloc,cppcoreguidelines-owning-memory): libvncserver's strdup
  std::free(cl->wspath);
  cl->wspath = nullptr;
  std::lock_guard lock(self->mu_);
  if (self->stopping_ || self->counters_.clients_now >= self->options_.max_clients) {
    ++self->counters_.refused;
    return RFB_CLIENT_REFUSE;
  }
  auto info = std::make_unique<ClientInfo>(self, self->options_.limits);
  cl->clientData = info.release();
  cl->clientGoneHook = &VncConsole::on_client_gone;
  cl->clientFramebufferUpdateRequestHook = [](rfbClientPtr c, rfbFramebufferUpdateRequestMsg* m) {
    on_update_request(c, m);
  };
  ++self->counters_.clients_now;
  ++self->counters_.clients_total;
  // Held: libvncserver sets cl->onHold only after this returns, so the acceptor hands the client
  // to the refresher once rfbNewClient is done with it (accept_loop).
  return RFB_CLIENT_ON_HOLD;
}

void VncConsole::on_update_request(_rfbClientRec* cl, void* /*request*/) {
  if (auto* info = static_cast<ClientInfo*>(cl->clientData)) {
    std::atomic_ref<uint64_t>(info->update_requests).fetch_add(1, std::memory_order_relaxed);
  }
}

void VncConsole::on_key(bool down, uint32_t keysym, _rfbClientRec* cl) {
  auto* self = static_cast<VncConsole*>(cl->screen->screenData);
  if (cl->viewOnly == FALSE) self->options_.input->key(keysym, down);
}

void VncConsole::on_pointer(int buttons, int x, int y, _rfbClientRec* cl) {
  auto* self = static_cast<VncConsole*>(cl->screen->screenData);
  if (cl->viewOnly != FALSE) return;
  self->options_.input->pointer(static_cast<uint8_t>(buttons), static_cast<uint32_t>(std::max(0, x)),
                                static_cast<uint32_t>(std::max(0, y)), self->shown_width_.load(),
                                self->shown_height_.load());
}

void VncConsole::on_client_gone(_rfbClientRec* cl) {
  std::unique_ptr<ClientInfo> info(static_cast<ClientInfo*>(cl->clientData));
  cl->clientData = nullptr;
  if (!info) return;
  VncConsole* self = info->console;
  // A started client ends on its own input thread, which nobody joins.
  if (info->started) ::pthread_detach(::pthread_self());
  {
    std::lock_guard lock(self->mu_);
    --self->counters_.clients_now;
  }
  self->cv_.notify_all();
}

void VncConsole::accept_loop() {
  OpeningWait opening(kOpeningWait, kMaxOpening);
  std::vector<pollfd> fds;
  for (;;) {
    fds.assign({{listener_.fd.get(), POLLIN, 0}, {stop_fd_.get(), POLLIN, 0}});
    opening.add_poll_fds(fds);
    if (::poll(fds.data(), fds.size(), opening.poll_timeout_ms(OpeningWait::Clock::now())) < 0) {
      if (errno == EINTR) continue;
      spdlog::error("console {}: poll: {}", where(), std::strerror(errno));
      return;
    }
    if (fds[1].revents != 0) return;
    for (UniqueFd& fd : opening.take_ready(std::span(fds).subspan(2), OpeningWait::Clock::now())) {
      admit(std::move(fd));
    }
    if ((fds[0].revents & POLLIN) == 0) continue;
    UniqueFd fd(::accept4(listener_.fd.get(), nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK));
    if (!fd) continue;  // EAGAIN, ECONNABORTED, EMFILE (the limits below keep us far from it)
    std::lock_guard lock(mu_);
    if (counters_.clients_now >= options_.max_clients ||
        !opening.hold(std::move(fd), OpeningWait::Clock::now())) {
      ++counters_.refused;  // closed: over the limit, or too many still opening
    }
  }
}

void VncConsole::admit(UniqueFd fd) {
  admission_.begin(fd.get());
  rfbClientPtr cl = rfbNewClient(screen_, fd.release());  // nullptr: refused and closed
  admission_.end();
  if (cl == nullptr) return;
  {
    std::lock_guard lock(mu_);
    on_hold_.push_back(cl);  // the refresher starts it (refresh_loop)
  }
  cv_.notify_all();
  vgpu_->display_damage().interrupt();  // now, not after the refresher's current poll interval
}

void VncConsole::refresh_loop() {
  bool full = true;
  for (;;) {
    std::vector<_rfbClientRec*> held;
    {
      std::unique_lock lock(mu_);
      if (counters_.clients_now == 0) {
        cv_.wait(lock, [&] { return stopping_ || counters_.clients_now != 0; });
        full = true;  // nobody watched: start from a complete frame
      }
      if (stopping_) return;
      held.swap(on_hold_);
    }
    if (held.empty()) {
      (void)vgpu_->display_damage().wait_for(options_.poll_interval);
      std::lock_guard lock(mu_);
      if (stopping_) return;
      held.swap(on_hold_);
    }
    refresh(full || !held.empty());
    full = false;
    for (_rfbClientRec* cl : held) {
      static_cast<ClientInfo*>(cl->clientData)->started = true;
      rfbStartOnHoldClient(cl);
    }
    const auto now = std::chrono::steady_clock::now();
    if (now - last_policed_ >= kPolicePeriod) {
      last_policed_ = now;
      police_clients();
    }
  }
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
  rfbClientIteratorPtr it = rfbGetClientIterator(screen_);
  while (rfbClientPtr cl = rfbClientIteratorNext(it)) {
    auto* info = static_cast<ClientInfo*>(cl->clientData);
    if (info == nullptr || !info->started || info->dropped.load()) continue;
    const uint64_t requests =
        std::atomic_ref<uint64_t>(info->update_requests).load(std::memory_order_relaxed);
    const ClientVerdict v =
        info->policy.observe(now, cl->state == _rfbClientRec::RFB_NORMAL,
                             static_cast<uint64_t>(std::max(0, rfbStatGetRcvdBytes(cl))), requests);
    if (v == ClientVerdict::Keep) continue;
    info->dropped = true;
    XVGPU_LOG_LIMITED(g_vnc_log, spdlog::level::warn, "console {}: client {} dropped: {}", where(),
                      cl->host != nullptr ? cl->host : "?", to_string(v));
    // Its input thread sees the end of the stream and tears the client down itself.
    if (cl->sock != RFB_INVALID_SOCKET) ::shutdown(cl->sock, SHUT_RDWR);
    std::lock_guard lock(mu_);
    ++counters_.dropped;
  }
  rfbReleaseClientIterator(it);
}

void VncConsole::disconnect_all_and_wait() {
  if (screen_ == nullptr) return;
  rfbClientIteratorPtr it = rfbGetClientIterator(screen_);
  while (rfbClientPtr cl = rfbClientIteratorNext(it)) {
    if (cl->sock != RFB_INVALID_SOCKET) ::shutdown(cl->sock, SHUT_RDWR);
  }
  rfbReleaseClientIterator(it);
  std::unique_lock lock(mu_);
  if (!cv_.wait_for(lock, kTeardownWait, [&] { return counters_.clients_now == 0; })) {
    // A client thread did not finish: its screen stays allocated rather than freed under it.
    spdlog::error("console {}: {} client(s) did not disconnect; leaving them", where(),
                  counters_.clients_now);
    return;
  }
  lock.unlock();
  screen_->frameBuffer = nullptr;
  rfbScreenCleanup(screen_);
  screen_ = nullptr;
}

}  // namespace xvgpu::dm
