// The device model's state in xenstore, where toolstacks (libxl, xenopsd-style daemons,
// scripts with xenstore-watch) wait for it: NODE/state is "running" once every vGPU is up, or
// "error" with NODE/error-code and NODE/error-message. NODE defaults to the key libxl watches
// for a device model, /local/domain/0/device-model/DOMID. The Xen header is
// behind this file's .cc (src/ioreq holds every Xen header of the product).
#pragma once

#include <memory>
#include <string>

namespace xvgpu::ioreq {

class XenstoreState {
 public:
  // node "none": every call does nothing. Opening xenstore is deferred to open().
  explicit XenstoreState(std::string node);
  ~XenstoreState();
  XenstoreState(const XenstoreState&) = delete;
  XenstoreState& operator=(const XenstoreState&) = delete;

  // Connects to xenstored (before chroot / dropping privileges). Returns false, with a reason,
  // when no xenstore is reachable (e.g. a test host without one); the caller logs and goes on.
  bool open(std::string& why_not);
  [[nodiscard]] bool connected() const;
  // Throw SystemError when xenstore refuses a write.
  void set_running(int pid, const std::string& control_socket);
  void set_error(int code, const std::string& message);
  // Removes what set_running wrote (orderly exit): nothing left behind.
  void remove() noexcept;
  [[nodiscard]] const std::string& node() const { return node_; }

 private:
  void write(const std::string& key, const std::string& value);
  struct Handle;
  std::string node_;
  std::unique_ptr<Handle> h_;
};

}  // namespace xvgpu::ioreq
