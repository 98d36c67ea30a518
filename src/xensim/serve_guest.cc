// The guest side and the control ops of xensim (no Xen library): domains, vCPU accesses,
// guest RAM, interrupts the guest saw, and failure injection.
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "xensim/serve_common.h"

namespace xensim {

Reply HostImpl::op_guest(Lock& lk, Op op, Reader& in) {
  Writer w;
  switch (op) {
    case Op::guest_create_domain: {
      const auto vcpus = in.get<uint32_t>();
      const auto ram = in.get<uint64_t>();
      const auto paused = in.get<uint8_t>();
      const auto want_domid = in.get<uint16_t>();
      const auto handle = in.get<std::array<uint8_t, 16>>();
      const std::string name = in.str();
      uint16_t id = 0;
      if (int rc = create_domain(vcpus, ram, paused != 0, want_domid, handle, name, &id); rc != 0) {
        return Reply::error(-rc);
      }
      w.put(id);
      return ok_with(w);
    }
    case Op::guest_list_domains: {
      w.put<uint32_t>(domains_.size());
      for (const auto& [id, d] : domains_) {
        w.put(info_of(*d));
      }
      return ok_with(w);
    }
    case Op::control_inject_failure: {
      const std::string name = in.str();
      const auto err = in.get<int32_t>();
      const auto nth = in.get<uint64_t>();
      const auto sticky = in.get<uint8_t>();
      if (err <= 0 || nth == 0) {
        return Reply::error(EINVAL);
      }
      failures.add(name, FailureRule{err, nth, sticky != 0});
      return {};
    }
    case Op::control_clear_failures:
      failures.clear();
      return {};
    case Op::control_set_hang_timeout:
      opts_.hang_timeout = std::chrono::milliseconds(in.get<uint64_t>());
      return {};
    case Op::control_shutdown_daemon:
      shutdown = true;
      return {};
    default:
      break;
  }
  const auto domid = in.get<uint16_t>();
  auto d = find(domid);
  if (!d) {
    return Reply::error(ESRCH);
  }
  // A dying domain runs nothing and its memory is being relinquished: only its status
  // and what it signalled before dying remain visible.
  if (d->killed() && op != Op::guest_destroy_domain && op != Op::guest_status && op != Op::guest_msis &&
      op != Op::guest_wait_msis && op != Op::guest_intx && op != Op::guest_wait_intx &&
      op != Op::guest_modified_pages) {
    return Reply::error(ESRCH);
  }
  switch (op) {
    case Op::guest_destroy_domain:
      destroy_domain(d);
      return {};
    case Op::guest_pause:
      if (d->state == DomainState::running) {
        d->state = DomainState::paused;
      }
      return {};
    case Op::guest_unpause:
      if (d->state == DomainState::paused) {
        d->state = DomainState::running;
      }
      d->state_cv.notify_all();
      return {};
    case Op::guest_access: {
      const auto vcpu = in.get<uint32_t>();
      const auto a = in.get<Access>();
      w.put(access(lk, d, vcpu, a));
      return ok_with(w);
    }
    case Op::guest_time_offset: {
      const auto delta = in.get<int64_t>();
      ioreq_t p{};
      p.type = IOREQ_TYPE_TIMEOFFSET;
      p.size = 8;
      p.count = 1;
      p.dir = IOREQ_WRITE;
      p.data = static_cast<uint64_t>(delta);
      uint32_t sent = 0;
      // send_timeoffset_req: nothing for a zero offset; a full ring loses the update.
      for (auto& [id, s] : d->servers) {
        if (delta != 0 && s->enabled && send_buffered(*d, *s, p)) {
          ++sent;
        }
      }
      w.put(sent);
      return ok_with(w);
    }
    case Op::guest_remove_memory: {
      const auto vcpu = in.get<uint32_t>();
      const auto gfn = in.get<uint64_t>();
      const auto n = in.get<uint64_t>();
      if (vcpu >= d->nr_vcpus || n > (1u << 20)) {
        return Reply::error(EINVAL);
      }
      for (uint64_t i = 0; i < n; ++i) {
        remove_gfn(*d, gfn + i);
      }
      // The vCPU that made the hypercall broadcasts INVALIDATE before returning to the guest.
      AccessResult r;
      d->state_cv.wait(lk, [&] { return d->state != DomainState::paused; });
      if (d->mapcache_invalidate && d->alive()) {
        Vcpu& v = *d->vcpus[vcpu];
        if (v.busy) {
          return Reply::error(EBUSY);
        }
        v.busy = true;
        r.status = invalidate_broadcast(lk, d, vcpu);
        v.busy = false;
      }
      w.put(r);
      return ok_with(w);
    }
    case Op::guest_read_ram: {
      const auto gpa = in.get<uint64_t>();
      const auto len = in.get<uint64_t>();
      if (len > (16u << 20)) {
        return Reply::error(EINVAL);
      }
      std::vector<uint8_t> buf(len);
      if (!copy_from_guest(*d, gpa, buf.data(), len)) {
        return Reply::error(EFAULT);
      }
      w.bytes(buf);
      return ok_with(w);
    }
    case Op::guest_write_ram: {
      const auto gpa = in.get<uint64_t>();
      const auto data = in.bytes();
      if (!copy_to_guest(*d, gpa, data.data(), data.size())) {
        return Reply::error(EFAULT);
      }
      return {};
    }
    case Op::guest_map_ram: {
      const auto gfn = in.get<uint64_t>();
      const auto n = in.get<uint64_t>();
      const auto have_fd = in.get<uint8_t>();
      if (n == 0 || n > (1u << 20)) {
        return Reply::error(EINVAL);
      }
      std::vector<uint64_t> pages(n);
      for (uint64_t i = 0; i < n; ++i) {
        auto it = d->p2m.find(gfn + i);
        if (it == d->p2m.end()) {
          return Reply::error(EFAULT);
        }
        pages[i] = it->second;
      }
      w.bytes({reinterpret_cast<const uint8_t*>(pages.data()), n * sizeof(uint64_t)});
      Reply r = ok_with(w);
      if (have_fd == 0) {
        r.fds.push_back(dup_fd(d->memfd.get()));
      }
      return r;
    }
    case Op::guest_status: {
      w.put(info_of(*d));
      w.str(d->crash_reason);
      w.put<uint32_t>(d->hung.size());
      const auto now_hung = d->hung;
      for (const auto& [v, h] : now_hung) {
        w.put(h);
      }
      w.put(d->hung_reports).put(d->ioreqs).put(d->unclaimed);
      return ok_with(w);
    }
    case Op::guest_msis: {
      const auto from = in.get<uint32_t>();
      w.put<uint32_t>(d->msis.size());
      const uint32_t n = from < d->msis.size() ? static_cast<uint32_t>(d->msis.size()) - from : 0;
      w.put(n);
      for (uint32_t i = 0; i < n; ++i) {
        w.put(d->msis[from + i]);
      }
      return ok_with(w);
    }
    case Op::guest_wait_msis: {
      const auto count = in.get<uint32_t>();
      const auto timeout = in.get<uint32_t>();
      const bool got = d->msi_cv.wait_for(lk, std::chrono::milliseconds(timeout),
                                          [&] { return d->msis.size() >= count || d->killed(); });
      w.put<uint32_t>(d->msis.size());
      Reply r = ok_with(w);
      if (!got || d->msis.size() < count) {
        r.rc = -1;
        r.err = ETIMEDOUT;
      }
      return r;
    }
    case Op::guest_intx: {
      const auto sbdf = in.get<uint32_t>();
      const auto pin = in.get<uint8_t>();
      auto it = d->intx.find((static_cast<uint64_t>(sbdf) << 8) | pin);
      w.put(it == d->intx.end() ? 0u : it->second);
      return ok_with(w);
    }
    case Op::guest_wait_intx: {
      const auto sbdf = in.get<uint32_t>();
      const auto pin = in.get<uint8_t>();
      const auto level = in.get<uint32_t>();
      const auto timeout = in.get<uint32_t>();
      const uint64_t key = (static_cast<uint64_t>(sbdf) << 8) | pin;
      const auto now_level = [&] {
        auto it = d->intx.find(key);
        return it == d->intx.end() ? 0u : it->second;
      };
      const bool got = d->msi_cv.wait_for(lk, std::chrono::milliseconds(timeout),
                                          [&] { return now_level() == level || d->killed(); });
      return got && now_level() == level ? Reply{} : Reply::error(ETIMEDOUT);
    }
    case Op::guest_set_log_dirty:
      d->log_dirty = in.get<uint8_t>() != 0;
      return {};
    case Op::guest_modified_pages: {
      w.put<uint32_t>(d->modified.size());
      for (uint64_t g : d->modified) {
        w.put(g);
      }
      return ok_with(w);
    }
    default:
      return Reply::error(ENOSYS);
  }
}

}  // namespace xensim
