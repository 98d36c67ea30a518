// The server side of libxenforeignmemory: mapping guest frames and resources (ioreq pages)
// into the client, and the references those mappings hold.
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "xensim/serve_common.h"

namespace xensim {

Reply HostImpl::op_foreign(SessionState& ss, Op op, Reader& in) {
  const auto domid = in.get<uint16_t>();
  if (op == Op::xenforeignmemory_unmap || op == Op::xenforeignmemory_unmap_resource) {
    // Releases one mapping's page references; a dying domain may be destroyed by it.
    if (!ss.mappings.contains(domid)) {
      return Reply::error(EINVAL);
    }
    release_mappings(ss, domid, 1);
    return {};
  }
  if (ss.restricted && *ss.restricted != domid) {
    return Reply::error(EPERM);
  }
  auto d = find(domid);
  if (!d || d->killed()) {
    return Reply::error(ESRCH);
  }
  // Each successful map takes a reference the client gives back with an unmap op.
  const auto take_ref = [&] {
    ++ss.mappings[domid];
    ++d->mappings;
  };
  Writer w;
  Reply r;
  switch (op) {
    case Op::xenforeignmemory_map:
    case Op::xenforeignmemory_map2: {
      const auto n = in.get<uint32_t>();
      const auto have_fd = in.get<uint8_t>();
      if (n == 0 || n > (1u << 20)) {
        return Reply::error(EINVAL);
      }
      std::vector<int32_t> errs(n);
      std::vector<uint64_t> pages(n);
      for (uint32_t i = 0; i < n; ++i) {
        auto it = d->p2m.find(in.get<uint64_t>());
        if (it == d->p2m.end()) {
          errs[i] = -EINVAL;  // p2m_add_foreign refuses a hole
        } else {
          pages[i] = it->second;
        }
      }
      w.bytes({reinterpret_cast<const uint8_t*>(errs.data()), n * sizeof(int32_t)});
      w.bytes({reinterpret_cast<const uint8_t*>(pages.data()), n * sizeof(uint64_t)});
      r = ok_with(w);
      take_ref();
      if (have_fd == 0) {
        r.fds.push_back(dup_fd(d->memfd.get()));
      }
      return r;
    }
    case Op::xenforeignmemory_map_resource:
    case Op::xenforeignmemory_resource_size: {
      const auto type = in.get<uint32_t>();
      const auto id = in.get<uint32_t>();
      const uint64_t max_frames = 1 + (d->nr_vcpus * sizeof(ioreq_t) + kPage - 1) / kPage;
      if (type != XENMEM_resource_ioreq_server) {
        return Reply::error(EOPNOTSUPP);
      }
      auto it = d->servers.find(static_cast<uint16_t>(id));
      if (it == d->servers.end()) {
        return Reply::error(ENOENT);
      }
      IoreqServer& s = *it->second;
      if (op == Op::xenforeignmemory_resource_size) {
        w.put(max_frames * kPage);
        return ok_with(w);
      }
      const auto frame = in.get<uint64_t>();
      const auto nr = in.get<uint64_t>();
      const auto have_fd = in.get<uint8_t>();
      if (nr == 0 || frame >= max_frames || nr > max_frames - frame) {
        return Reply::error(EINVAL);
      }
      if (s.mode == PageMode::legacy) {
        return Reply::error(EPERM);  // gfns were handed out already
      }
      std::vector<uint64_t> pages;
      for (uint64_t f = frame; f < frame + nr; ++f) {
        if (f == XENMEM_resource_ioreq_server_frame_bufioreq) {
          if (s.bufioreq_handling == HVM_IOREQSRV_BUFIOREQ_OFF) {
            return Reply::error(ENOENT);
          }
          pages.push_back(s.buf_page);
        } else {
          pages.push_back(s.ioreq_page);
        }
      }
      s.mode = PageMode::resource;
      w.bytes({reinterpret_cast<const uint8_t*>(pages.data()), pages.size() * sizeof(uint64_t)});
      r = ok_with(w);
      take_ref();
      if (have_fd == 0) {
        r.fds.push_back(dup_fd(d->memfd.get()));
      }
      return r;
    }
    default:
      return Reply::error(ENOSYS);
  }
}

}  // namespace xensim
