// libxenforeignmemory on xensim: guest pages are pages of the domain's memfd, so a foreign
// mapping and the guest see the same bytes. Per-page errors are reported in err[] as
// privcmd does (an unpopulated gfn fails that page only).
#include <sys/mman.h>

#include <cerrno>
#include <cstring>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <vector>

extern "C" {
#include <xenforeignmemory.h>
}
#include "xensim/capi_common.h"
#include "xensim/capi_handle.h"
#include "xensim/toolcore_internal.h"

using xensim::Op;
using xensim::Writer;

struct xenforeignmemory_handle {
  Xentoolcore__Active_Handle tc_ah{};
  std::unique_ptr<xensim::Transport> t;
  std::mutex mu;
  std::map<uint32_t, xvgpu::UniqueFd> memfds;  // per domain, fetched once
  std::map<void*, uint32_t> mapped;            // foreign mapping address -> domid

  // Gives the host back one mapping's page references (a dying domain may then go).
  int release(Op op, uint32_t domid) {
    Writer w;
    w.put<uint16_t>(static_cast<uint16_t>(domid));
    return xensim::call_rc(*t, op, w) < 0 ? -1 : 0;
  }
  void track(void* addr, uint32_t domid) {
    std::lock_guard lk(mu);
    mapped[addr] = domid;
  }
  std::optional<uint32_t> tracked(void* addr) {
    std::lock_guard lk(mu);
    auto it = mapped.find(addr);
    return it == mapped.end() ? std::nullopt : std::optional<uint32_t>(it->second);
  }
  void untrack(void* addr) {
    std::lock_guard lk(mu);
    mapped.erase(addr);
  }

  int memfd(uint32_t domid) {
    std::lock_guard lk(mu);
    auto it = memfds.find(domid);
    return it == memfds.end() ? -1 : it->second.get();
  }
  void remember(uint32_t domid, xensim::Reply& r) {
    if (r.fds.empty()) {
      return;
    }
    std::lock_guard lk(mu);
    memfds.try_emplace(domid, std::move(r.fds.front()));
  }
};

struct xenforeignmemory_resource_handle {
  void* addr = nullptr;
  size_t nr_frames = 0;
  uint32_t domid = 0;
};

namespace {
int restrict_cb(Xentoolcore__Active_Handle* ah, domid_t domid) {
  return xenforeignmemory_restrict(reinterpret_cast<xenforeignmemory_handle*>(ah), domid);
}
}  // namespace

extern "C" {

xenforeignmemory_handle* xenforeignmemory_open(struct xentoollog_logger* /*logger*/,
                                               unsigned /*open_flags*/) {
  XENSIM_INJECT("xenforeignmemory_open", nullptr);
  auto h = xensim::new_handle<xenforeignmemory_handle>(xensim::SessionKind::foreignmemory);
  return h ? xensim::register_handle(std::move(h), restrict_cb) : nullptr;
}

int xenforeignmemory_close(xenforeignmemory_handle* fmem) {
  return xensim::close_handle(fmem);
}

int xenforeignmemory_restrict(xenforeignmemory_handle* fmem, domid_t domid) {
  XENSIM_INJECT("xenforeignmemory_restrict", -1);
  Writer w;
  w.put<uint16_t>(domid);
  return xensim::call_rc(*fmem->t, Op::xenforeignmemory_restrict, w) < 0 ? -1 : 0;
}

static void* do_map(xenforeignmemory_handle* fmem, Op op, uint32_t dom, void* addr, int prot, int flags,
                    size_t pages, const xen_pfn_t arr[], int err[]) {
  if (fmem == nullptr || pages == 0 || dom > 0xffff) {
    errno = EINVAL;
    return nullptr;
  }
  Writer w;
  w.put<uint16_t>(dom).put<uint32_t>(pages);
  w.put<uint8_t>(fmem->memfd(dom) >= 0);
  for (size_t i = 0; i < pages; ++i) {
    w.put<uint64_t>(arr[i]);
  }
  xensim::Reply r;
  if (xensim::call_rc(*fmem->t, op, w, &r) < 0) {
    return nullptr;
  }
  fmem->remember(dom, r);
  // The host took a reference for this mapping: give it back unless the mapping is made.
  bool made = false;
  struct ReleaseUnlessMade {
    xenforeignmemory_handle* h;
    uint32_t d;
    const bool& made;
    ~ReleaseUnlessMade() {
      if (!made) {
        const int saved = errno;
        h->release(Op::xenforeignmemory_unmap, d);
        errno = saved;
      }
    }
  } guard{fmem, dom, made};
  xensim::Reader in(r.data);
  const auto eb = in.bytes();
  const auto pb = in.bytes();
  std::vector<int32_t> errs(pages);
  std::vector<uint64_t> pgs(pages);
  std::memcpy(errs.data(), eb.data(), pages * sizeof(int32_t));
  std::memcpy(pgs.data(), pb.data(), pages * sizeof(uint64_t));
  // Without err[], any failed page fails the whole call (libxenforeignmemory's core.c).
  if (err == nullptr) {
    for (int32_t e : errs) {
      if (e != 0) {
        errno = -e;
        return nullptr;
      }
    }
  }
  void* m = xensim::map_pages(fmem->memfd(dom), pgs, errs, prot, addr, flags);
  if (m == nullptr) {
    return nullptr;
  }
  if (err != nullptr) {
    for (size_t i = 0; i < pages; ++i) {
      err[i] = errs[i];
    }
  }
  fmem->track(m, dom);
  made = true;
  return m;
}

void* xenforeignmemory_map(xenforeignmemory_handle* fmem, uint32_t dom, int prot, size_t pages,
                           const xen_pfn_t arr[], int err[]) {
  XENSIM_INJECT("xenforeignmemory_map", nullptr);
  return do_map(fmem, Op::xenforeignmemory_map, dom, nullptr, prot, 0, pages, arr, err);
}

void* xenforeignmemory_map2(xenforeignmemory_handle* fmem, uint32_t dom, void* addr, int prot, int flags,
                            size_t pages, const xen_pfn_t arr[], int err[]) {
  XENSIM_INJECT("xenforeignmemory_map2", nullptr);
  return do_map(fmem, Op::xenforeignmemory_map2, dom, addr, prot, flags, pages, arr, err);
}

int xenforeignmemory_unmap(xenforeignmemory_handle* fmem, void* addr, size_t pages) {
  XENSIM_INJECT("xenforeignmemory_unmap", -1);
  if (fmem != nullptr) {
    if (const auto domid = fmem->tracked(addr)) {
      if (fmem->release(Op::xenforeignmemory_unmap, *domid) != 0) {
        return -1;  // still mapped, reference still held
      }
      fmem->untrack(addr);
    }
  }
  return ::munmap(addr, pages * 4096);
}

xenforeignmemory_resource_handle* xenforeignmemory_map_resource(xenforeignmemory_handle* fmem, domid_t domid,
                                                                unsigned int type, unsigned int id,
                                                                unsigned long frame, unsigned long nr_frames,
                                                                void** paddr, int prot, int flags) {
  XENSIM_INJECT("xenforeignmemory_map_resource", nullptr);
  if (fmem == nullptr) {
    errno = EBADF;
    return nullptr;
  }
  Writer w;
  w.put<uint16_t>(domid).put<uint32_t>(type).put<uint32_t>(id);
  w.put<uint64_t>(frame).put<uint64_t>(nr_frames);
  w.put<uint8_t>(fmem->memfd(domid) >= 0);
  xensim::Reply r;
  if (xensim::call_rc(*fmem->t, Op::xenforeignmemory_map_resource, w, &r) < 0) {
    return nullptr;
  }
  fmem->remember(domid, r);
  xensim::Reader in(r.data);
  const auto pb = in.bytes();
  std::vector<uint64_t> pgs(pb.size() / sizeof(uint64_t));
  std::memcpy(pgs.data(), pb.data(), pgs.size() * sizeof(uint64_t));
  auto fres = std::make_unique<xenforeignmemory_resource_handle>();
  fres->nr_frames = pgs.size();
  fres->domid = domid;
  fres->addr =
      xensim::map_pages(fmem->memfd(domid), pgs, {}, prot, paddr != nullptr ? *paddr : nullptr, flags);
  if (fres->addr == nullptr) {
    const int saved = errno;
    fmem->release(Op::xenforeignmemory_unmap_resource, domid);  // the host's reference
    errno = saved;
    return nullptr;
  }
  if (paddr != nullptr) {
    *paddr = fres->addr;
  }
  return fres.release();
}

int xenforeignmemory_unmap_resource(xenforeignmemory_handle* fmem, xenforeignmemory_resource_handle* fres) {
  if (fres == nullptr) {
    return 0;
  }
  std::unique_ptr<xenforeignmemory_resource_handle> own(fres);
  if (fmem != nullptr) {
    const int saved = errno;
    fmem->release(Op::xenforeignmemory_unmap_resource, fres->domid);  // the page references
    errno = saved;
  }
  return fres->addr != nullptr ? ::munmap(fres->addr, fres->nr_frames * 4096) : 0;
}

int xenforeignmemory_resource_size(xenforeignmemory_handle* fmem, domid_t domid, unsigned int type,
                                   unsigned int id, size_t* size) {
  XENSIM_INJECT("xenforeignmemory_resource_size", -1);
  Writer w;
  w.put<uint16_t>(domid).put<uint32_t>(type).put<uint32_t>(id);
  xensim::Reply r;
  if (xensim::call_rc(*fmem->t, Op::xenforeignmemory_resource_size, w, &r) < 0) {
    return -1;
  }
  xensim::Reader in(r.data);
  *size = in.get<uint64_t>();
  return 0;
}

}  // extern "C"
