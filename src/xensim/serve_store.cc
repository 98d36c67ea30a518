// The server side of libxenstore: reads, writes, directories and watches of the tree.
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "xensim/serve_common.h"

namespace xensim {

Reply HostImpl::op_store(Session& s, SessionState& ss, Op op, Reader& in) {
  const std::string path = in.str();
  // Watches may name xenstored's special nodes too (fired by the host, never written).
  const bool special = path == "@releaseDomain" || path == "@introduceDomain";
  if ((special && op != Op::xs_watch && op != Op::xs_unwatch) ||
      (!special && (path.empty() || path.front() != '/')) || path.size() > 3072) {
    return Reply::error(EINVAL);
  }
  Writer w;
  switch (op) {
    case Op::xs_read: {
      auto v = xenstore_.read(path);
      if (!v) {
        return Reply::error(ENOENT);
      }
      w.str(*v);
      return ok_with(w);
    }
    case Op::xs_write:
      xenstore_.write(path, in.str());
      return {};
    case Op::xs_mkdir:
      if (!xenstore_.read(path)) {
        xenstore_.write(path, "");
      }
      return {};
    case Op::xs_rm:
      return xenstore_.rm(path) ? Reply{} : Reply::error(ENOENT);
    case Op::xs_directory: {
      auto v = xenstore_.directory(path);
      if (!v) {
        return Reply::error(ENOENT);
      }
      w.put<uint32_t>(v->size());
      for (const auto& e : *v) {
        w.str(e);
      }
      return ok_with(w);
    }
    case Op::xs_watch: {
      const std::string token = in.str();
      const int fd = ss.event_wr.get();
      xenstore_.watch(&s, path, token, [fd](const std::string& p, const std::string& t) {
        Writer ev;
        ev.str(p).str(t);
        [[maybe_unused]] auto n = ::send(fd, ev.data().data(), ev.data().size(), MSG_DONTWAIT | MSG_NOSIGNAL);
      });
      return {};
    }
    case Op::xs_unwatch:
      return xenstore_.unwatch(&s, path, in.str()) ? Reply{} : Reply::error(ENOENT);
    default:
      return Reply::error(ENOSYS);
  }
}

}  // namespace xensim
