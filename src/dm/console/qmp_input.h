// Keyboard and pointer events from the VNC consoles to a guest's emulated input devices, through
// qemu-xen's QMP command `input-send-event` (HVM guests: qemu-xen emulates the PS/2 keyboard and
// mouse, and a USB tablet when the guest's configuration asks for one).
//
// xvgpu-dm listens on a UNIX socket (--input-qmp PATH, opened before seccomp and the privilege
// drop); the HVM wrapper starts qemu-xen with a QMP monitor of its own that connects there
// (`-chardev socket,path=PATH,reconnect=1 -mon chardev=...,mode=control`), so libxl's QMP socket
// stays libxl's. One thread of its own speaks QMP; the consoles' client threads only queue events
// (bounded, never blocking): an absent, dead or slow QEMU costs dropped events, never a stall.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <mutex>
#include <string>
#include <thread>

#include <nlohmann/json.hpp>

#include "common/unique_fd.h"
#include "dm/console/console_listener.h"

namespace xvgpu::dm {

// Where a console's input goes.
class InputSink {
 public:
  virtual ~InputSink() = default;
  // An X keysym pressed (down) or released, as RFB's KeyEvent carries it.
  virtual void key(uint32_t keysym, bool down) noexcept = 0;
  // RFB's PointerEvent: button mask (bit 0 left, 1 middle, 2 right, 3 wheel up, 4 wheel down) and
  // the position on a width x height screen.
  virtual void pointer(uint8_t buttons, uint32_t x, uint32_t y, uint32_t width, uint32_t height) noexcept = 0;
  // What the sink has done so far, for `xvgpuctl status --json` (an object; empty when it keeps no count).
  [[nodiscard]] virtual nlohmann::json status() const { return nlohmann::json::object(); }
};

struct QmpInputOptions {
  size_t max_queued = 256;                      // events waiting for the QMP thread
  size_t max_unsent_bytes = size_t{64} * 1024;  // commands QEMU has not read yet
  size_t max_line_bytes = size_t{64} * 1024;    // one QMP message from QEMU
  std::chrono::milliseconds handshake_timeout{5000};
  std::chrono::milliseconds mice_query_interval{1000};  // which mouse is current: absolute or not
};

struct QmpInputCounters {
  uint64_t connections = 0;      // QEMU connections accepted
  uint64_t keys_sent = 0;        // key events written
  uint64_t pointer_sent = 0;     // pointer events written
  uint64_t dropped_offline = 0;  // no QEMU ready to take them
  uint64_t dropped_full = 0;     // queue or unsent commands at their bound
  uint64_t unmapped = 0;         // keysyms without a key
  uint64_t errors = 0;           // QMP error replies
  bool ready = false;            // a QEMU connection has finished its handshake
  bool absolute = false;         // the guest's current mouse takes absolute positions
};

class QmpInput final : public InputSink {
 public:
  // Listens on `path` now (a stale socket file is replaced; mode 0600). Throws SystemError.
  explicit QmpInput(const std::string& path, QmpInputOptions options = {});
  ~QmpInput() override;
  QmpInput(const QmpInput&) = delete;
  QmpInput& operator=(const QmpInput&) = delete;

  void key(uint32_t keysym, bool down) noexcept override;
  void pointer(uint8_t buttons, uint32_t x, uint32_t y, uint32_t width, uint32_t height) noexcept override;

  [[nodiscard]] QmpInputCounters counters() const;
  [[nodiscard]] nlohmann::json status() const override;
  [[nodiscard]] std::string where() const { return listener_.bound.to_string(); }

 private:
  struct Event {
    bool is_key = false;
    uint32_t keysym = 0;
    bool down = false;
    uint8_t buttons = 0;
    uint32_t x = 0, y = 0, width = 0, height = 0;
  };
  enum class State : uint8_t { None, Greeting, Negotiating, Ready };

  void push(const Event& e) noexcept;
  void run();
  void accept_connection();
  bool read_connection();  // false: the connection is gone
  bool write_connection();
  void handle_message(const std::string& line);
  void translate_queued();
  void append_command(const std::string& command);
  void close_connection(const char* why);
  [[nodiscard]] std::string pointer_command(const Event& e);

  QmpInputOptions options_;
  ConsoleListener listener_;
  UniqueFd wake_fd_;  // eventfd: new events or stop

  // QMP thread only.
  UniqueFd conn_;
  State state_ = State::None;
  std::chrono::steady_clock::time_point deadline_{};
  std::chrono::steady_clock::time_point last_mice_query_{};
  std::string in_;
  std::string out_;
  uint8_t last_buttons_ = 0;
  uint32_t last_x_ = 0, last_y_ = 0;
  bool have_position_ = false;

  mutable std::mutex mu_;
  bool stopping_ = false;
  std::deque<Event> queue_;
  QmpInputCounters counters_;

  std::thread thread_;
};

}  // namespace xvgpu::dm
