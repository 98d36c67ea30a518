// The server side of libxenctrl: the domctls and HVM params xvgpu and the tests use.
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "xensim/serve_common.h"

namespace xensim {

Reply HostImpl::op_ctrl(Lock& lk, Op op, Reader& in) {
  (void)lk;
  Writer w;
  if (op == Op::xc_domain_getinfo || op == Op::xc_domain_getinfolist) {
    const auto first = in.get<uint32_t>();
    const auto max = in.get<uint32_t>();
    std::vector<DomainInfo> out;
    if (first == 0 && max > 0) {
      DomainInfo dom0;
      dom0.state = DomainState::running;
      dom0.nr_vcpus = 1;
      out.push_back(dom0);
    }
    for (auto it = domains_.lower_bound(static_cast<uint16_t>(std::max<uint32_t>(first, 1)));
         it != domains_.end() && out.size() < max && first <= 0xffff; ++it) {
      out.push_back(info_of(*it->second));
    }
    w.put<uint32_t>(out.size());
    for (const auto& i : out) {
      w.put(i);
    }
    return ok_with(w);
  }
  const auto domid = in.get<uint32_t>();
  auto d = domid > 0xffff ? nullptr : find(static_cast<uint16_t>(domid));
  if (!d) {
    return Reply::error(ESRCH);
  }
  // A dying domain is only listed (getinfo) and may be destroyed again (a no-op).
  if (d->killed() && op != Op::xc_domain_destroy) {
    return Reply::error(ESRCH);
  }
  switch (op) {
    case Op::xc_domain_pause:
      if (d->state == DomainState::running) {
        d->state = DomainState::paused;
      }
      return {};
    case Op::xc_domain_unpause:
      if (d->state == DomainState::paused) {
        d->state = DomainState::running;
      }
      d->state_cv.notify_all();
      return {};
    case Op::xc_domain_destroy:
      destroy_domain(d);
      return {};
    case Op::xc_domain_shutdown: {
      shut_down(*d, in.get<uint32_t>(), "xc_domain_shutdown(crash)");
      return {};
    }
    case Op::xc_domain_max_vcpus: {
      const auto n = in.get<uint32_t>();
      return n == d->nr_vcpus ? Reply{} : Reply::error(EINVAL);
    }
    case Op::xc_domain_setmaxmem: {
      const auto kb = in.get<uint64_t>();
      d->max_pages = kb / 4;
      return {};
    }
    case Op::xc_domain_populate_physmap_exact:
    case Op::xc_domain_decrease_reservation_exact: {
      const auto order = in.get<uint32_t>();
      const auto n = in.get<uint32_t>();
      if (order > 9 || n > (1u << 20)) {
        return Reply::error(EINVAL);
      }
      for (uint32_t i = 0; i < n; ++i) {
        const auto gfn = in.get<uint64_t>();
        for (uint64_t j = 0; j < (uint64_t{1} << order); ++j) {
          if (op == Op::xc_domain_populate_physmap_exact) {
            if (populate(*d, gfn + j) != 0) {
              return Reply::error(EBUSY);  // partial: _exact says EBUSY
            }
          } else {
            if (!d->p2m.contains(gfn + j)) {
              return Reply::error(EINVAL);
            }
            remove_gfn(*d, gfn + j);
          }
        }
      }
      return {};
    }
    case Op::xc_domain_remove_from_physmap: {
      const auto gfn = in.get<uint64_t>();
      if (!d->p2m.contains(gfn)) {
        return Reply::error(EINVAL);
      }
      remove_gfn(*d, gfn);
      return {};
    }
    case Op::xc_hvm_param_get: {
      const auto param = in.get<uint32_t>();
      if (param >= HVM_NR_PARAMS) {
        return Reply::error(EINVAL);
      }
      w.put(d->hvm_params[param]);
      return ok_with(w);
    }
    case Op::xc_hvm_param_set: {
      const auto param = in.get<uint32_t>();
      const auto value = in.get<uint64_t>();
      if (param >= HVM_NR_PARAMS) {
        return Reply::error(EINVAL);
      }
      d->hvm_params[param] = value;
      return {};
    }
    default:
      return Reply::error(ENOSYS);
  }
}

}  // namespace xensim
