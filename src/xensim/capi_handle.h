// The handles of xensim's Xen C libraries: each holds a session with xensimd and registers with
// libxentoolcore (its Xentoolcore__Active_Handle tc_ah first), so that
// xentoolcore_restrict_all() restricts it as it does the real libraries' handles.
#pragma once

#include <memory>
#include <vector>

#include "common/unique_fd.h"
#include "xensim/toolcore_internal.h"
#include "xensim/transport.h"

namespace xensim {

// A new handle with a session of kind (the session's opening fds in hello_fds when asked);
// nullptr when no session could be opened (errno as open_transport() left it).
template <typename Handle>
std::unique_ptr<Handle> new_handle(SessionKind kind, std::vector<xvgpu::UniqueFd>* hello_fds = nullptr) {
  auto h = std::make_unique<Handle>();
  h->t = open_transport(kind, hello_fds);
  if (!h->t) {
    return nullptr;
  }
  return h;
}

// Registers the handle for xentoolcore_restrict_all() and gives it to the caller.
template <typename Handle>
Handle* register_handle(std::unique_ptr<Handle> h, Xentoolcore__Restrict_Callback* restrict_cb) {
  h->tc_ah.restrict_callback = restrict_cb;
  xentoolcore__register_active_handle(&h->tc_ah);
  return h.release();
}

// The library's close: deregisters and frees the handle; a null handle is fine.
template <typename Handle>
int close_handle(Handle* h) {
  if (h == nullptr) {
    return 0;
  }
  xentoolcore__deregister_active_handle(&h->tc_ah);
  std::unique_ptr<Handle> own(h);
  return 0;
}

}  // namespace xensim
