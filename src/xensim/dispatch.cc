// Decoding of requests: failure injection, session checks, the session ops (hello, restrict),
// and the hand-off to the op handlers of each Xen library (serve_*.cc, event_channels.cc).
#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "xensim/serve_common.h"

namespace xensim {

namespace {

bool is_guest_or_control(Op op) {
  return op >= Op::guest_create_domain;
}

}  // namespace

Reply HostImpl::dispatch(Session& s, Op op, std::span<const uint8_t> payload) {
  if (static_cast<uint32_t>(op) >= static_cast<uint32_t>(Op::count_)) {
    return Reply::error(ENOSYS);
  }
  // Releasing a mapping's references cannot fail (it is part of munmap); the unmap
  // calls' injected failures happen in the client, before anything is released.
  const bool is_release = op == Op::xenforeignmemory_unmap || op == Op::xenforeignmemory_unmap_resource;
  if (op != Op::hello && !is_guest_or_control(op) && !is_release) {
    if (const int e = failures.check(op_name(op)); e != 0) {
      return Reply::error(e);
    }
  }
  try {
    Reader in(payload);
    if (op >= Op::guest_create_domain) {
      Lock lk(mu_);
      return op_guest(lk, op, in);
    }
    Lock lk(mu_);
    auto it = sessions_.find(&s);
    if (it == sessions_.end()) {
      return Reply::error(EBADF);
    }
    SessionState& ss = it->second;
    if (ss.dead) {
      return Reply::error(ss.kind == SessionKind::store ? ECONNRESET : ENOTTY);
    }
    if (op >= Op::xc_domain_getinfo && op <= Op::xc_hvm_param_set) {
      return op_ctrl(lk, op, in);
    }
    return do_op(s, ss, op, in);
  } catch (const ProtocolError&) {
    return Reply::error(EINVAL);
  } catch (const std::bad_alloc&) {
    return Reply::error(ENOMEM);
  }
}

Reply HostImpl::do_op(Session& s, SessionState& ss, Op op, Reader& in) {
  switch (op) {
    case Op::hello: {
      ss.kind = static_cast<SessionKind>(in.get<uint32_t>());
      Reply r;
      if (ss.kind == SessionKind::evtchn) {
        int p[2];
        if (::pipe2(p, O_CLOEXEC) != 0) {
          return Reply::error(errno);
        }
        ::fcntl(p[1], F_SETFL, O_NONBLOCK);
        r.fds.emplace_back(p[0]);
        ss.event_wr.reset(p[1]);
      } else if (ss.kind == SessionKind::store) {
        int p[2];
        if (::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, p) != 0) {
          return Reply::error(errno);
        }
        ::fcntl(p[1], F_SETFL, O_NONBLOCK);
        ::shutdown(p[0], SHUT_WR);
        r.fds.emplace_back(p[0]);
        ss.event_wr.reset(p[1]);
      }
      return r;
    }
    case Op::xendevicemodel_restrict:
    case Op::xenforeignmemory_restrict:
    case Op::xenevtchn_restrict: {
      const auto domid = in.get<uint16_t>();
      // Restricting twice to another domain is refused, as privcmd does.
      if (ss.restricted && *ss.restricted != domid) {
        return Reply::error(EPERM);
      }
      ss.restricted = domid;
      return {};
    }
    default:
      break;
  }
  if (op >= Op::xendevicemodel_create_ioreq_server && op <= Op::xendevicemodel_nr_vcpus) {
    return op_dm(ss, op, in);
  }
  if (op >= Op::xenforeignmemory_map && op <= Op::xenforeignmemory_unmap_resource) {
    return op_foreign(ss, op, in);
  }
  if (op >= Op::xenevtchn_notify && op <= Op::xenevtchn_unmask) {
    return op_evtchn(s, ss, op, in);
  }
  if (op >= Op::xs_read && op <= Op::xs_unwatch) {
    return op_store(s, ss, op, in);
  }
  return Reply::error(ENOSYS);
}

}  // namespace xensim
