#include "ioreq/xenstore_state.h"

// Debian's Xen headers carry no extern "C" guards.
extern "C" {
#include <xenstore.h>
}

#include <cerrno>
#include <cstring>

#include "common/error.h"

namespace xvgpu::ioreq {

struct XenstoreState::Handle {
  xs_handle* xs = nullptr;
  ~Handle() {
    if (xs != nullptr) xs_close(xs);
  }
};

XenstoreState::XenstoreState(std::string node) : node_(std::move(node)) {}
XenstoreState::~XenstoreState() = default;

bool XenstoreState::open(std::string& why_not) {
  if (node_ == "none") {
    why_not = "disabled by --xenstore-node none";
    return false;
  }
  auto h = std::make_unique<Handle>();
  h->xs = xs_open(0);
  if (h->xs == nullptr) {
    why_not = std::string("cannot connect to xenstore: ") + std::strerror(errno);
    return false;
  }
  h_ = std::move(h);
  return true;
}

bool XenstoreState::connected() const {
  return h_ != nullptr;
}

void XenstoreState::write(const std::string& key, const std::string& value) {
  if (!h_) return;
  const std::string path = node_ + "/" + key;
  if (!xs_write(h_->xs, XBT_NULL, path.c_str(), value.data(), static_cast<unsigned>(value.size()))) {
    throw SystemError(errno, "writing xenstore " + path);
  }
}

void XenstoreState::set_running(int pid, const std::string& control_socket) {
  write("xvgpu-pid", std::to_string(pid));
  write("xvgpu-control-socket", control_socket);
  write("state", "running");  // last: watchers react to it
}

void XenstoreState::set_error(int code, const std::string& message) {
  write("error-code", std::to_string(code));
  write("error-message", message);
  write("state", "error");
}

void XenstoreState::remove() noexcept {
  if (!h_) return;
  for (const char* key : {"state", "xvgpu-pid", "xvgpu-control-socket", "error-code", "error-message"}) {
    const std::string path = node_ + "/" + key;
    xs_rm(h_->xs, XBT_NULL, path.c_str());
  }
}

}  // namespace xvgpu::ioreq
