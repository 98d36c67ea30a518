// libxentoolcore: xentoolcore_restrict_all restricts every open handle of the process
// (device model, foreign memory, evtchn: to the domain; xenctrl, xenstore: made unusable,
// as Xen's libs do by dup2-ing /dev/null over their fds).
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <mutex>
#include <vector>

#include "xensim/capi_common.h"
#include "xensim/toolcore_internal.h"
extern "C" {
#include <xentoolcore.h>
}

namespace {
std::mutex g_mu;
std::vector<Xentoolcore__Active_Handle*>& handles() {
  static std::vector<Xentoolcore__Active_Handle*> h;
  return h;
}
}  // namespace

extern "C" {

void xentoolcore__register_active_handle(Xentoolcore__Active_Handle* ah) {
  std::lock_guard lk(g_mu);
  handles().push_back(ah);
}

void xentoolcore__deregister_active_handle(Xentoolcore__Active_Handle* ah) {
  std::lock_guard lk(g_mu);
  std::erase(handles(), ah);
}

int xentoolcore__restrict_by_dup2_null(int fd) {
  const int nullfd = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  if (nullfd < 0) {
    return -1;
  }
  const int r = ::dup2(nullfd, fd);
  const int e = errno;
  ::close(nullfd);
  errno = e;
  return r < 0 ? -1 : 0;
}

int xentoolcore_restrict_all(domid_t domid) {
  XENSIM_INJECT("xentoolcore_restrict_all", -1);
  std::lock_guard lk(g_mu);
  for (Xentoolcore__Active_Handle* ah : handles()) {
    if (ah->restrict_callback != nullptr && ah->restrict_callback(ah, domid) < 0) {
      return -1;
    }
  }
  return 0;
}

}  // extern "C"
