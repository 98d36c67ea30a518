// A libxenstore subset on xensim's tiny xenstore: read/write/mkdir/rm/directory, watches
// with a pollable fd (xs_fileno), trivially-successful transactions. Results are malloc'd
// as libxenstore's are (the caller free()s them).
#include <sys/socket.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "xensim/capi_common.h"
#include "xensim/toolcore_internal.h"
extern "C" {
#include <xenstore.h>
}

using xensim::Op;
using xensim::Writer;

struct xs_handle {
  Xentoolcore__Active_Handle tc_ah{};
  std::unique_ptr<xensim::Transport> t;
  xvgpu::UniqueFd watch_fd;
  bool dead = false;
};

namespace {

int restrict_cb(Xentoolcore__Active_Handle* ah, domid_t /*domid*/) {
  reinterpret_cast<xs_handle*>(ah)->dead = true;  // xs.c dup2s /dev/null over its socket
  return 0;
}

bool store_call(xs_handle* h, Op op, const Writer& w, xensim::Reply* r = nullptr) {
  if (h == nullptr) {
    return errno = EBADF, false;
  }
  if (h->dead) {
    return errno = ECONNRESET, false;
  }
  return xensim::call_rc(*h->t, op, w, r) >= 0;
}

// A NULL-terminated char* vector in one malloc block, as libxenstore returns them.
char** string_vector(const std::vector<std::string>& v) {
  size_t bytes = sizeof(char*) * (v.size() + 1);
  for (const auto& s : v) {
    bytes += s.size() + 1;
  }
  // The caller free()s it (libxenstore ABI).
  // NOLINTNEXTLINE(cppcoreguidelines-no-malloc,cppcoreguidelines-owning-memory)
  auto** out = static_cast<char**>(std::malloc(bytes));
  if (out == nullptr) {
    return nullptr;
  }
  char* p = reinterpret_cast<char*>(out + v.size() + 1);
  for (size_t i = 0; i < v.size(); ++i) {
    out[i] = p;
    std::memcpy(p, v[i].c_str(), v[i].size() + 1);
    p += v[i].size() + 1;
  }
  out[v.size()] = nullptr;
  return out;
}

char** read_watch_event(xs_handle* h, bool block, unsigned int* num) {
  if (h == nullptr) {
    return errno = EBADF, nullptr;
  }
  uint8_t buf[8192];
  const ssize_t n = ::recv(h->watch_fd.get(), buf, sizeof buf, block ? 0 : MSG_DONTWAIT);
  if (n <= 0) {
    if (n == 0) {
      errno = ECONNRESET;
    }
    return nullptr;
  }
  try {
    xensim::Reader in({buf, static_cast<size_t>(n)});
    std::string path = in.str();
    std::string token = in.str();
    if (num != nullptr) {
      *num = 2;
    }
    return string_vector({path, token});
  } catch (const xensim::ProtocolError&) {
    errno = EIO;
    return nullptr;
  }
}

}  // namespace

extern "C" {

struct xs_handle* xs_open(unsigned long /*flags*/) {
  XENSIM_INJECT("xs_open", nullptr);
  auto h = std::make_unique<xs_handle>();
  std::vector<xvgpu::UniqueFd> fds;
  h->t = xensim::open_transport(xensim::SessionKind::store, &fds);
  if (!h->t) {
    return nullptr;
  }
  if (fds.empty()) {
    return errno = EIO, nullptr;
  }
  h->watch_fd = std::move(fds.front());
  h->tc_ah.restrict_callback = restrict_cb;
  xentoolcore__register_active_handle(&h->tc_ah);
  return h.release();
}

struct xs_handle* xs_daemon_open(void) {
  return xs_open(0);
}
struct xs_handle* xs_domain_open(void) {
  return xs_open(0);
}
struct xs_handle* xs_daemon_open_readonly(void) {
  return xs_open(XS_OPEN_READONLY);
}

void xs_close(struct xs_handle* xsh) {
  if (xsh == nullptr) {
    return;
  }
  xentoolcore__deregister_active_handle(&xsh->tc_ah);
  std::unique_ptr<xs_handle> own(xsh);
}

void xs_daemon_close(struct xs_handle* h) {
  xs_close(h);
}

void* xs_read(struct xs_handle* h, xs_transaction_t /*t*/, const char* path, unsigned int* len) {
  XENSIM_INJECT("xs_read", nullptr);
  xensim::Reply r;
  if (!store_call(h, Op::xs_read, Writer().str(path), &r)) {
    return nullptr;
  }
  xensim::Reader in(r.data);
  const auto v = in.bytes();
  // The caller free()s it.
  // NOLINTNEXTLINE(cppcoreguidelines-no-malloc,cppcoreguidelines-owning-memory)
  auto* out = static_cast<char*>(std::malloc(v.size() + 1));
  if (out == nullptr) {
    return errno = ENOMEM, nullptr;
  }
  std::memcpy(out, v.data(), v.size());
  out[v.size()] = '\0';
  if (len != nullptr) {
    *len = static_cast<unsigned int>(v.size());
  }
  return out;
}

bool xs_write(struct xs_handle* h, xs_transaction_t /*t*/, const char* path, const void* data,
              unsigned int len) {
  XENSIM_INJECT("xs_write", false);
  return store_call(h, Op::xs_write, Writer().str(path).bytes({static_cast<const uint8_t*>(data), len}));
}

bool xs_mkdir(struct xs_handle* h, xs_transaction_t /*t*/, const char* path) {
  XENSIM_INJECT("xs_mkdir", false);
  return store_call(h, Op::xs_mkdir, Writer().str(path));
}

bool xs_rm(struct xs_handle* h, xs_transaction_t /*t*/, const char* path) {
  XENSIM_INJECT("xs_rm", false);
  return store_call(h, Op::xs_rm, Writer().str(path));
}

char** xs_directory(struct xs_handle* h, xs_transaction_t /*t*/, const char* path, unsigned int* num) {
  XENSIM_INJECT("xs_directory", nullptr);
  xensim::Reply r;
  if (!store_call(h, Op::xs_directory, Writer().str(path), &r)) {
    return nullptr;
  }
  xensim::Reader in(r.data);
  std::vector<std::string> v(in.get<uint32_t>());
  for (auto& s : v) {
    s = in.str();
  }
  if (num != nullptr) {
    *num = static_cast<unsigned int>(v.size());
  }
  return string_vector(v);
}

bool xs_watch(struct xs_handle* h, const char* path, const char* token) {
  XENSIM_INJECT("xs_watch", false);
  return store_call(h, Op::xs_watch, Writer().str(path).str(token));
}

bool xs_unwatch(struct xs_handle* h, const char* path, const char* token) {
  XENSIM_INJECT("xs_unwatch", false);
  return store_call(h, Op::xs_unwatch, Writer().str(path).str(token));
}

int xs_fileno(struct xs_handle* h) {
  return h->watch_fd.get();
}

char** xs_check_watch(struct xs_handle* h) {
  char** v = read_watch_event(h, false, nullptr);
  if (v == nullptr && errno == EWOULDBLOCK) {
    errno = EAGAIN;
  }
  return v;
}

char** xs_read_watch(struct xs_handle* h, unsigned int* num) {
  return read_watch_event(h, true, num);
}

xs_transaction_t xs_transaction_start(struct xs_handle* h) {
  if (h == nullptr || h->dead) {
    return errno = h == nullptr ? EBADF : ECONNRESET, XBT_NULL;
  }
  return 1;  // no real transactions: each operation applies at once
}

bool xs_transaction_end(struct xs_handle* h, xs_transaction_t /*t*/, bool /*abort*/) {
  return h != nullptr && !h->dead;
}

char* xs_get_domain_path(struct xs_handle* /*h*/, unsigned int domid) {
  const std::string p = "/local/domain/" + std::to_string(domid);
  return strdup(p.c_str());
}

bool xs_path_is_subpath(const char* parent, const char* child) {
  const size_t n = std::strlen(parent);
  if (std::strncmp(child, parent, n) != 0) {
    return false;
  }
  return child[n] == '\0' || child[n] == '/' || (n > 0 && parent[n - 1] == '/');
}

bool xs_restrict(struct xs_handle* /*h*/, unsigned /*domid*/) {
  errno = ENOSYS;
  return false;
}

}  // extern "C"
