// Host lifecycle, sessions, domains and guest memory (the p2m).
#include "xensim/host.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "xensim/host_impl.h"

namespace xensim {

namespace {
std::mutex g_inproc_mu;
std::vector<Host*> g_inproc;  // registered in-process hosts, newest last
}  // namespace

// ---- Host / Session ----

Host::Host(HostOptions options) : impl_(std::make_unique<HostImpl>(options)) {
  if (options.register_in_process) {
    std::lock_guard lk(g_inproc_mu);
    g_inproc.push_back(this);
  }
}

Host::~Host() {
  std::lock_guard lk(g_inproc_mu);
  std::erase(g_inproc, this);
}

Host* Host::in_process() {
  std::lock_guard lk(g_inproc_mu);
  return g_inproc.empty() ? nullptr : g_inproc.back();
}

std::shared_ptr<Session> Host::open_session() {
  auto s = std::make_shared<Session>(Session::Key{}, impl_.get());
  impl_->open_session(s.get());
  return s;
}

Session::~Session() {
  host_->close_session(this);
}

Reply Host::dispatch(Session& session, Op op, std::span<const uint8_t> payload) {
  return impl_->dispatch(session, op, payload);
}

void Host::inject_failure(std::string_view call, int err, uint64_t nth, bool sticky) {
  impl_->failures.add(std::string(call), FailureRule{err, nth, sticky});
}
void Host::clear_failures() {
  impl_->failures.clear();
}
void Host::set_hang_timeout(std::chrono::milliseconds t) {
  impl_->set_hang_timeout(t);
}
void Host::stop() {
  impl_->stop();
}
bool Host::shutdown_requested() const {
  return impl_->shutdown.load();
}

std::string_view op_name(Op op) {
  static constexpr std::string_view kNames[] = {
#define XENSIM_OP_NAME(name) #name,
      XENSIM_OPS(XENSIM_OP_NAME)
#undef XENSIM_OP_NAME
  };
  const auto i = static_cast<size_t>(op);
  return i < std::size(kNames) ? kNames[i] : std::string_view("?");
}

Op op_from_name(std::string_view name) {
  for (uint32_t i = 0; i < static_cast<uint32_t>(Op::count_); ++i) {
    if (op_name(static_cast<Op>(i)) == name) {
      return static_cast<Op>(i);
    }
  }
  return Op::count_;
}

// ---- HostImpl: sessions ----

HostImpl::~HostImpl() {
  std::lock_guard lk(mu_);
  for (auto& [id, d] : domains_) {
    d->state = DomainState::gone;
    for (auto& v : d->vcpus) {
      v->cv.notify_all();
    }
  }
}

void HostImpl::stop() {
  std::lock_guard lk(mu_);
  while (!domains_.empty()) {
    const auto d = domains_.begin()->second;
    destroy_domain(d);
    finalize_domain(d);  // shutting down: mappings no longer keep zombies
  }
}

void HostImpl::open_session(Session* s) {
  std::lock_guard lk(mu_);
  sessions_[s];
}

void HostImpl::close_session(Session* s) {
  std::lock_guard lk(mu_);
  auto it = sessions_.find(s);
  if (it == sessions_.end()) {
    return;
  }
  // Closing an evtchn handle unbinds all its ports (the Linux driver's release).
  const auto ports = it->second.ports;
  for (uint32_t p : ports) {
    close_local_port(p);
  }
  xenstore_.drop_owner(s);
  // A closed handle (or a client process gone) drops its mappings' references.
  const auto maps = it->second.mappings;
  for (const auto& [domid, n] : maps) {
    release_mappings(it->second, domid, n);
  }
  sessions_.erase(it);
}

// ---- domains ----

Domain::~Domain() {
  if (base != nullptr) {
    ::munmap(base, capacity_pages * kPage);
  }
}

std::shared_ptr<Domain> HostImpl::find(uint16_t domid) const {
  auto it = domains_.find(domid);
  return it == domains_.end() ? nullptr : it->second;
}

namespace {
std::string uuid_text(const std::array<uint8_t, 16>& h) {
  std::string out;
  static constexpr char kHex[] = "0123456789abcdef";
  for (size_t i = 0; i < h.size(); ++i) {
    if (i == 4 || i == 6 || i == 8 || i == 10) {
      out += '-';
    }
    out += kHex[h[i] >> 4];
    out += kHex[h[i] & 0xf];
  }
  return out;
}
}  // namespace

void HostImpl::write_domain_keys(const Domain& d, const std::string& name) {
  const std::string dom = "/local/domain/" + std::to_string(d.id);
  const std::string shown = name.empty() ? "xensim-" + std::to_string(d.id) : name;
  xenstore_.write(d.vm_path + "/uuid", uuid_text(d.handle));
  xenstore_.write(d.vm_path + "/name", shown);
  xenstore_.write(dom + "/vm", d.vm_path);
  xenstore_.write(dom + "/name", shown);
  xenstore_.write(dom + "/domid", std::to_string(d.id));
}

void HostImpl::release_domain_keys(const Domain& d) {
  xenstore_.rm("/local/domain/" + std::to_string(d.id));
  // Another live domain may share the handle (a toolstack reusing a VM's UUID): its /vm stays.
  const bool shared = std::any_of(domains_.begin(), domains_.end(), [&d](const auto& e) {
    return e.second.get() != &d && e.second->alive() && e.second->vm_path == d.vm_path;
  });
  if (!shared) {
    xenstore_.rm(d.vm_path);
  }
  xenstore_.write_special("@releaseDomain");
}

int HostImpl::create_domain(uint32_t vcpus, uint64_t ram_mib, bool paused, uint16_t want_domid,
                            const std::array<uint8_t, 16>& handle, const std::string& name, uint16_t* out) {
  constexpr unsigned kFirstReserved = DOMID_FIRST_RESERVED;
  if (vcpus == 0 || vcpus > kMaxVcpus || ram_mib == 0 || ram_mib > (uint64_t{1} << 20) ||
      want_domid >= kFirstReserved) {
    return -EINVAL;
  }
  if (want_domid != 0 && domains_.contains(want_domid)) {
    return -EEXIST;  // Xen's is_free_domid(): a dying domain still holds its id
  }
  if (domains_.size() >= 1000) {
    return -ENOSPC;
  }
  auto d = std::make_shared<Domain>();
  d->nr_vcpus = vcpus;
  for (uint32_t i = 0; i < vcpus; ++i) {
    d->vcpus.push_back(std::make_unique<Vcpu>());
  }
  const uint64_t ram_pages = ram_mib * (uint64_t{1} << 20) / kPage;
  d->capacity_pages = ram_pages + kSlackPages;
  d->memfd.reset(::memfd_create("xensim-guest", MFD_CLOEXEC));
  if (!d->memfd) {
    return -errno;
  }
  if (::ftruncate(d->memfd.get(), static_cast<off_t>(d->capacity_pages * kPage)) != 0) {
    return -errno;
  }
  void* m = ::mmap(nullptr, d->capacity_pages * kPage, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_NORESERVE,
                   d->memfd.get(), 0);
  if (m == MAP_FAILED) {
    return -errno;
  }
  d->base = static_cast<uint8_t*>(m);
  // RAM at gfns [0, N) except the legacy VGA hole [0xa0, 0xc0) (MMIO, as in every HVM
  // guest); the special region (legacy ioreq gfns) stays above it.
  for (uint64_t g = 0; g < ram_pages; ++g) {
    if (g < kVgaHoleFirst || g > kVgaHoleLast) {
      d->p2m[g] = d->next_page++;
      d->note_mapped(g);
    }
  }
  d->tot_pages = d->p2m.size();
  d->max_pages = d->tot_pages;
  d->state = paused ? DomainState::paused : DomainState::running;
  d->handle = handle;
  d->vm_path = "/vm/" + uuid_text(handle);
  if (want_domid != 0) {
    d->id = want_domid;  // the toolstack asked for it (libxl's c_info.domid); the rover stays
  } else {
    // Domain ids Xen chooses are not reused within one host's life (as Xen until it wraps).
    while (domains_.contains(next_domid_) || next_domid_ == 0 || next_domid_ >= kFirstReserved) {
      next_domid_ = static_cast<uint16_t>(next_domid_ + 1u >= kFirstReserved ? 1u : next_domid_ + 1u);
    }
    d->id = next_domid_++;
  }
  domains_[d->id] = d;
  write_domain_keys(*d, name);
  *out = d->id;
  return 0;
}

void HostImpl::destroy_domain(const std::shared_ptr<Domain>& d) {
  if (d->killed()) {
    return;  // destroying a zombie again succeeds and changes nothing
  }
  d->state = DomainState::dying;
  // ioreq_server_destroy_all: dm_ops on them fail from now on; vCPUs blocked on one wake.
  while (!d->servers.empty()) {
    const auto s = d->servers.begin()->second;
    destroy_server(*d, s);
  }
  // evtchn_destroy: every port of the domain is closed (dom0 peers stay bound, unconnected).
  std::vector<uint32_t> ports;
  for (auto it = ports_.lower_bound({d->id, 0}); it != ports_.end() && it->first.first == d->id; ++it) {
    ports.push_back(it->first.second);
  }
  for (uint32_t p : ports) {
    close_guest_port(d->id, p);
  }
  for (auto& v : d->vcpus) {
    v->cv.notify_all();
  }
  d->state_cv.notify_all();
  d->msi_cv.notify_all();
  release_domain_keys(*d);
  if (d->mappings == 0) {
    finalize_domain(d);
  }
}

void HostImpl::finalize_domain(const std::shared_ptr<Domain>& d) {
  d->state = DomainState::gone;
  for (auto& v : d->vcpus) {
    v->cv.notify_all();
  }
  d->state_cv.notify_all();
  d->msi_cv.notify_all();
  domains_.erase(d->id);
}

void HostImpl::release_mappings(SessionState& ss, uint16_t domid, uint64_t n) {
  auto it = ss.mappings.find(domid);
  if (it == ss.mappings.end() || n == 0) {
    return;
  }
  n = std::min(n, it->second);
  it->second -= n;
  if (it->second == 0) {
    ss.mappings.erase(it);
  }
  auto d = find(domid);
  if (!d) {
    return;  // finalized by stop()
  }
  d->mappings -= std::min(n, d->mappings);
  if (d->state == DomainState::dying && d->mappings == 0) {
    finalize_domain(d);
  }
}

void HostImpl::crash(Domain& d, const std::string& why) {
  if (!d.alive()) {
    return;
  }
  d.state = DomainState::crashed;
  d.shutdown_reason = SHUTDOWN_crash;
  d.crash_reason = why;
  for (auto& v : d.vcpus) {
    v->cv.notify_all();
  }
  d.state_cv.notify_all();
  d.msi_cv.notify_all();
  xenstore_.write_special("@releaseDomain");  // xenstored: a domain crashed or shut down
}

void HostImpl::shut_down(Domain& d, uint32_t reason, const std::string& who) {
  if (!d.alive()) {
    return;
  }
  if (reason == SHUTDOWN_crash) {
    crash(d, who);
    return;
  }
  d.state = DomainState::shutdown;
  d.shutdown_reason = reason;
  for (auto& v : d.vcpus) {
    v->cv.notify_all();
  }
  d.state_cv.notify_all();
  xenstore_.write_special("@releaseDomain");
}

DomainInfo HostImpl::info_of(const Domain& d) const {
  DomainInfo i;
  i.domid = d.id;
  i.state = d.state;
  i.shutdown_reason = d.shutdown_reason;
  i.nr_vcpus = d.nr_vcpus;
  i.tot_pages = d.tot_pages;
  i.max_pages = d.max_pages;
  i.mappings = d.mappings;
  std::memcpy(i.handle, d.handle.data(), sizeof i.handle);
  return i;
}

// ---- guest memory ----

int HostImpl::alloc_page(Domain& d, uint64_t* page) {
  if (d.next_page >= d.capacity_pages) {
    return -ENOMEM;
  }
  *page = d.next_page++;
  return 0;
}

int HostImpl::populate(Domain& d, uint64_t gfn) {
  auto it = d.p2m.find(gfn);
  if (it == d.p2m.end() && d.tot_pages >= d.max_pages) {
    return -ENOMEM;
  }
  uint64_t page = 0;
  if (int rc = alloc_page(d, &page); rc != 0) {
    return rc;
  }
  if (it == d.p2m.end()) {
    d.p2m[gfn] = page;
    d.note_mapped(gfn);
    ++d.tot_pages;
  } else {
    it->second = page;  // replaces the old page, as guest_physmap_add_page does
  }
  return 0;
}

void HostImpl::remove_gfn(Domain& d, uint64_t gfn) {
  if (d.p2m.erase(gfn) != 0) {
    --d.tot_pages;
    d.mapcache_invalidate = true;  // Xen flags it; the next vCPU entry broadcasts INVALIDATE
  }
}

namespace {

// Walks [gpa, gpa + len) page by page: fn(host pointer, gfn, bytes before this piece, piece
// length). False at the first page the domain does not have (the pieces before it are done).
template <typename Fn>
bool for_each_guest_piece(const Domain& d, uint64_t gpa, uint64_t len, Fn&& fn) {
  for (uint64_t done = 0; done < len;) {
    const uint64_t addr = gpa + done;
    auto it = d.p2m.find(addr / kPage);
    if (it == d.p2m.end()) {
      return false;
    }
    const uint64_t off = addr % kPage;
    const uint64_t n = std::min(len - done, kPage - off);
    fn(d.page_ptr(it->second) + off, addr / kPage, done, n);
    done += n;
  }
  return true;
}

}  // namespace

bool HostImpl::copy_from_guest(const Domain& d, uint64_t gpa, uint8_t* out, uint64_t len) const {
  return for_each_guest_piece(d, gpa, len, [&](const uint8_t* page, uint64_t, uint64_t done, uint64_t n) {
    std::memcpy(out + done, page, n);
  });
}

bool HostImpl::copy_to_guest(Domain& d, uint64_t gpa, const uint8_t* in, uint64_t len) {
  return for_each_guest_piece(d, gpa, len, [&](uint8_t* page, uint64_t gfn, uint64_t done, uint64_t n) {
    std::memcpy(page, in + done, n);
    mark_dirty(d, gfn);
  });
}

void HostImpl::mark_dirty(Domain& d, uint64_t gfn) {
  if (d.vram.nr != 0 && gfn >= d.vram.begin && gfn - d.vram.begin < d.vram.nr) {
    d.vram.dirty[gfn - d.vram.begin] = true;
  }
}

// ---- ioreq server helpers ----

int HostImpl::server_lookup(SessionState& ss, uint16_t domid, uint16_t id, std::shared_ptr<Domain>* d,
                            std::shared_ptr<IoreqServer>* s, bool check_restrict) {
  if (check_restrict && ss.restricted && *ss.restricted != domid) {
    return -EPERM;
  }
  *d = find(domid);
  if (!*d || (*d)->state == DomainState::dying || (*d)->state == DomainState::gone) {
    return -ESRCH;
  }
  if (s == nullptr) {
    return 0;
  }
  auto it = (*d)->servers.find(id);
  if (it == (*d)->servers.end()) {
    return -ENOENT;
  }
  *s = it->second;
  return 0;
}

void HostImpl::set_legacy_gfns(Domain& d, IoreqServer& s, bool present) {
  const uint64_t g = kLegacyGfnBase + 2ull * s.id;
  if (present) {
    d.p2m[g] = s.ioreq_page;
    d.note_mapped(g);
    if (s.bufioreq_handling != HVM_IOREQSRV_BUFIOREQ_OFF) {
      d.p2m[g + 1] = s.buf_page;
      d.note_mapped(g + 1);
    }
  } else {
    d.p2m.erase(g);
    d.p2m.erase(g + 1);
  }
}

void HostImpl::destroy_server(Domain& d, const std::shared_ptr<IoreqServer>& s) {
  s->dead = true;
  s->enabled = false;
  if (s->mode == PageMode::legacy) {
    set_legacy_gfns(d, *s, false);
  }
  for (uint32_t p : s->vcpu_port) {
    close_guest_port(d.id, p);
  }
  if (s->buf_port != 0) {
    close_guest_port(d.id, s->buf_port);
  }
  d.servers.erase(s->id);
  for (auto& v : d.vcpus) {
    v->cv.notify_all();  // vCPUs waiting on it complete with ~0
  }
}

}  // namespace xensim
