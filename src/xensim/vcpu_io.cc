// The vCPU side of the ioreq protocol, after Xen 4.17 (xen/common/ioreq.c,
// xen/arch/x86/hvm/ioreq.c, emulate.c): server selection (whole access inside one range,
// CF8/CFC -> PCI_CONFIG), how an instruction becomes ioreqs (page-split single accesses, rep
// stos as one repeated value, rep movs/ins/outs through a buffer, each rep clipped at its
// pages and at 4096), the synchronous send and wait-for-io rules, the buffered ring,
// TIMEOFFSET and INVALIDATE broadcasts, and Xen's null handler for accesses nobody claimed.
// docs/ioreq-conformance.md lists each class and the Xen function it follows.
#include <algorithm>
#include <cerrno>
#include <cstring>

#include "xensim/host_impl.h"

namespace xensim {

namespace {

uint8_t load_state(const ioreq_t* slot) {
  const auto* b = reinterpret_cast<const uint8_t*>(slot) + kIoreqFlagsOffset;
  return __atomic_load_n(b, __ATOMIC_ACQUIRE) & 0xf;
}

void store_state(ioreq_t* slot, uint8_t state) {
  auto* b = reinterpret_cast<uint8_t*>(slot) + kIoreqFlagsOffset;
  const uint8_t old = __atomic_load_n(b, __ATOMIC_RELAXED);
  __atomic_store_n(b, static_cast<uint8_t>((old & 0xf0) | state), __ATOMIC_RELEASE);
}

constexpr bool cf8_enabled(uint32_t cf8) {
  return (cf8 & 0x80000000u) != 0;
}

uint64_t mmio_first_byte(const ioreq_t& p) {
  return p.df ? p.addr - (p.count - 1ull) * p.size : p.addr;
}
uint64_t mmio_last_byte(const ioreq_t& p) {
  return p.df ? p.addr + p.size - 1 : p.addr + static_cast<uint64_t>(p.count) * p.size - 1;
}

uint64_t ones(uint32_t size) {
  return size >= 8 ? ~0ull : (1ull << (size * 8)) - 1;
}

}  // namespace

std::shared_ptr<IoreqServer> HostImpl::select(Domain& d, ioreq_t& p) {
  if (d.servers.empty()) {
    return nullptr;
  }
  uint8_t type = 0;
  uint64_t addr = 0;
  if (p.type == IOREQ_TYPE_PIO && (p.addr & ~3ull) == 0xcfc && cf8_enabled(d.pci_cf8)) {
    // PCI config data cycle: SBDF from the latched CF8, register incl. the byte in CFC.
    const uint32_t bdf = (d.pci_cf8 >> 8) & 0xffff;
    const uint32_t reg = (d.pci_cf8 & 0xfc) | (p.addr & 3);
    type = XEN_DMOP_IO_RANGE_PCI;
    addr = (static_cast<uint64_t>(bdf) << 32) | reg;
  } else {
    type = p.type == IOREQ_TYPE_PIO ? XEN_DMOP_IO_RANGE_PORT : XEN_DMOP_IO_RANGE_MEMORY;
    addr = p.addr;
  }
  // Highest id first, as FOR_EACH_IOREQ_SERVER walks them.
  for (auto it = d.servers.rbegin(); it != d.servers.rend(); ++it) {
    auto& s = it->second;
    if (!s->enabled) {
      continue;
    }
    const RangeSet& r = s->ranges[type];
    switch (type) {
      case XEN_DMOP_IO_RANGE_PORT:
        if (r.contains(addr, addr + p.size - 1)) {
          return s;
        }
        break;
      case XEN_DMOP_IO_RANGE_MEMORY:
        if (r.contains(mmio_first_byte(p), mmio_last_byte(p))) {
          return s;
        }
        break;
      default:
        if (r.contains(addr >> 32, addr >> 32)) {
          p.type = IOREQ_TYPE_PCI_CONFIG;
          p.addr = addr;
          return s;
        }
    }
  }
  return nullptr;
}

bool HostImpl::send_buffered(Domain& d, IoreqServer& s, const ioreq_t& p) {
  if (s.bufioreq_handling == HVM_IOREQSRV_BUFIOREQ_OFF) {
    return false;
  }
  buf_ioreq_t bp{};
  bp.type = p.type;
  bp.dir = p.dir;
  bp.addr = static_cast<uint32_t>(p.addr & 0xfffff);
  bp.data = static_cast<uint32_t>(p.data);
  unsigned qw = 0;
  switch (p.size) {
    case 1:
      bp.size = 0;
      break;
    case 2:
      bp.size = 1;
      break;
    case 4:
      bp.size = 2;
      break;
    case 8:
      bp.size = 3;
      qw = 1;
      break;
    default:
      return false;
  }
  auto* pg = reinterpret_cast<buffered_iopage_t*>(d.page_ptr(s.buf_page));
  const uint32_t rp = __atomic_load_n(&pg->read_pointer, __ATOMIC_ACQUIRE);
  const uint32_t wp = __atomic_load_n(&pg->write_pointer, __ATOMIC_RELAXED);
  if (wp - rp >= IOREQ_BUFFER_SLOT_NUM - qw) {
    return false;  // full: the caller goes synchronous
  }
  pg->buf_ioreq[wp % IOREQ_BUFFER_SLOT_NUM] = bp;
  if (qw != 0) {
    bp.data = static_cast<uint32_t>(p.data >> 32);
    pg->buf_ioreq[(wp + 1) % IOREQ_BUFFER_SLOT_NUM] = bp;
  }
  // The slots are visible before the write pointer.
  __atomic_store_n(&pg->write_pointer, wp + (qw != 0 ? 2 : 1), __ATOMIC_RELEASE);
  // Canonicalise the pointers so they never overflow (ATOMIC handling only).
  while (s.bufioreq_handling == HVM_IOREQSRV_BUFIOREQ_ATOMIC && qw++ < IOREQ_BUFFER_SLOT_NUM) {
    auto* full = reinterpret_cast<uint64_t*>(pg);
    uint64_t old = __atomic_load_n(full, __ATOMIC_ACQUIRE);
    const auto orp = static_cast<uint32_t>(old);
    const auto owp = static_cast<uint32_t>(old >> 32);
    if (orp < IOREQ_BUFFER_SLOT_NUM) {
      break;
    }
    const uint32_t n = orp / IOREQ_BUFFER_SLOT_NUM;
    const uint64_t neu =
        (static_cast<uint64_t>(owp - n * IOREQ_BUFFER_SLOT_NUM) << 32) | (orp - n * IOREQ_BUFFER_SLOT_NUM);
    __atomic_compare_exchange_n(full, &old, neu, false, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE);
  }
  notify_from_xen(d.id, s.buf_port);
  return true;
}

// Xen's wait_for_io: the state is read when the vCPU is about to block and on each event;
// IORESP_READY completes, NONE completes with ~0, a backwards move or an invalid state
// crashes the domain. A timeout only reports the vCPU hung; it never completes the access.
AccessStatus HostImpl::wait_for_io(Lock& lk, const std::shared_ptr<Domain>& d, uint32_t vcpu, IoreqServer& s,
                                   uint64_t* data) {
  ioreq_t* slot = d->slot(s, vcpu);
  Vcpu& v = *d->vcpus[vcpu];
  unsigned prev = STATE_IOREQ_NONE;
  unsigned state = load_state(slot);
  *data = ~0ull;
  const auto started = std::chrono::steady_clock::now();
  bool reported = false;
  while (state != STATE_IOREQ_NONE) {
    if (state < prev) {
      crash(*d, "Weird HVM ioreq state transition " + std::to_string(prev) + " -> " + std::to_string(state));
      return AccessStatus::crashed;
    }
    prev = state;
    if (state == STATE_IORESP_READY) {
      // load_state's acquire orders this read after the DM's data store (no separate fence:
      // ThreadSanitizer does not model fences, and GCC's -Wtsan rejects them).
      *data = __atomic_load_n(&slot->data, __ATOMIC_RELAXED);
      store_state(slot, STATE_IOREQ_NONE);
      break;
    }
    if (state != STATE_IOREQ_READY && state != STATE_IOREQ_INPROCESS) {
      crash(*d, "Weird HVM iorequest state " + std::to_string(state));
      return AccessStatus::crashed;
    }
    // wait_on_xen_event_channel(port, state != prev): the condition is evaluated before
    // blocking and after each event, never on a timeout (which only reports the hang).
    for (;;) {
      state = load_state(slot);
      if (state != prev) {
        break;
      }
      const uint64_t seq = v.notify_seq;
      for (;;) {
        if (d->killed()) {
          return AccessStatus::destroyed;
        }
        if (!d->alive()) {
          return AccessStatus::crashed;
        }
        if (s.dead) {
          d->hung.erase(vcpu);
          return AccessStatus::unclaimed;
        }
        if (v.notify_seq != seq) {
          break;
        }
        if (reported) {
          v.cv.wait(lk);
        } else if (v.cv.wait_until(lk, started + opts_.hang_timeout) == std::cv_status::timeout &&
                   std::chrono::steady_clock::now() >= started + opts_.hang_timeout) {
          reported = true;
          ++d->hung_reports;
          HungVcpu h;
          h.vcpu = vcpu;
          h.server = s.id;
          h.type = slot->type;
          h.addr = slot->addr;
          h.waited_ms = static_cast<uint64_t>(opts_.hang_timeout.count());
          d->hung[vcpu] = h;
        }
      }
    }
  }
  d->hung.erase(vcpu);
  return AccessStatus::ok;
}

// Posts p to each server's slot of this vCPU, then waits for every answer (ioreq_send +
// ioreq_broadcast + vcpu_ioreq_handle_completion). data gets the last server's answer.
AccessStatus HostImpl::send_sync(Lock& lk, const std::shared_ptr<Domain>& d, uint32_t vcpu,
                                 std::span<const std::shared_ptr<IoreqServer>> servers, ioreq_t p,
                                 uint64_t* data) {
  for (const auto& s : servers) {
    ioreq_t* slot = d->slot(*s, vcpu);
    if (load_state(slot) != STATE_IOREQ_NONE) {
      crash(*d, "device model set bad IO state " + std::to_string(load_state(slot)));
      return AccessStatus::crashed;
    }
    ioreq_t q = p;
    q.state = STATE_IOREQ_NONE;
    q.vp_eport = s->vcpu_port[vcpu];
    std::memcpy(slot, &q, kIoreqFlagsOffset);
    auto* bytes = reinterpret_cast<uint8_t*>(slot);
    uint8_t flags = 0;
    std::memcpy(&flags, reinterpret_cast<const uint8_t*>(&q) + kIoreqFlagsOffset, 1);
    __atomic_store_n(bytes + 31, q.type, __ATOMIC_RELAXED);
    // The request is visible before its state says READY.
    __atomic_store_n(bytes + kIoreqFlagsOffset, static_cast<uint8_t>((flags & 0xf0) | STATE_IOREQ_READY),
                     __ATOMIC_RELEASE);
    ++d->ioreqs;
    notify_from_xen(d->id, s->vcpu_port[vcpu]);
  }
  AccessStatus st = AccessStatus::ok;
  for (const auto& s : servers) {
    uint64_t v = ~0ull;
    const AccessStatus r = wait_for_io(lk, d, vcpu, *s, &v);
    if (r == AccessStatus::crashed || r == AccessStatus::destroyed) {
      return r;
    }
    if (r != AccessStatus::ok) {
      st = r;
    }
    *data = v;
  }
  return st;
}

AccessStatus HostImpl::invalidate_broadcast(Lock& lk, const std::shared_ptr<Domain>& d, uint32_t vcpu) {
  d->mapcache_invalidate = false;
  std::vector<std::shared_ptr<IoreqServer>> targets;
  for (auto& [id, s] : d->servers) {
    if (s->enabled) {
      targets.push_back(s);
    }
  }
  if (targets.empty()) {
    return AccessStatus::ok;
  }
  ioreq_t p{};  // as ioreq_signal_mapcache_invalidate: no address, count left 0
  p.type = IOREQ_TYPE_INVALIDATE;
  p.size = 4;
  p.dir = IOREQ_WRITE;
  p.data = ~0ull;  // flush all
  uint64_t ignored = 0;
  return send_sync(lk, d, vcpu, targets, p, &ignored);
}

// One ioreq-sized item of an instruction: sent to the server that claims it, or answered by
// Xen's null handler. Reads of values return the answer; `claimed` tells which happened.
AccessStatus HostImpl::send_item(Lock& lk, const std::shared_ptr<Domain>& d, uint32_t vcpu, ioreq_t p,
                                 bool buffered, AccessResult& res, uint64_t* answer) {
  *answer = ones(p.size);
  std::shared_ptr<IoreqServer> s = select(*d, p);
  if (!s) {
    // Xen's null handler: reads return all ones, writes are dropped.
    ++d->unclaimed;
    if (p.dir == IOREQ_READ && p.data_is_ptr) {
      const std::vector<uint8_t> ff(p.size, 0xff);
      for (uint64_t i = 0; i < p.count; ++i) {
        copy_to_guest(*d, p.df ? p.data - i * p.size : p.data + i * p.size, ff.data(), p.size);
      }
    }
    return AccessStatus::unclaimed;
  }
  ++res.ioreqs;
  if (buffered && send_buffered(*d, *s, p)) {
    return AccessStatus::buffered;
  }
  const std::shared_ptr<IoreqServer> one[] = {s};
  const AccessStatus st = send_sync(lk, d, vcpu, one, p, answer);
  *answer &= ones(p.size);
  return st == AccessStatus::unclaimed ? AccessStatus::unclaimed : st;
}

namespace {

bool fatal(AccessStatus st) {
  return st == AccessStatus::crashed || st == AccessStatus::destroyed;
}

// Only x86 instructions that exist: a value is one item except for rep stos (a write to
// memory); port I/O is 1, 2 or 4 bytes; the rep count is bounded so one access cannot occupy
// the host for long (a real vCPU would take interrupts between chunks anyway).
bool well_formed(const Access& a, uint32_t nr_vcpus, uint32_t vcpu) {
  if (vcpu >= nr_vcpus || (a.size != 1 && a.size != 2 && a.size != 4 && a.size != 8) || a.count == 0 ||
      a.count > kMaxAccessReps || a.dir > 1) {
    return false;
  }
  if (a.space == Space::pio && (a.addr > 0xffff || a.size == 8)) {
    return false;
  }
  const bool rep_stos = a.space == Space::mmio && a.dir == IOREQ_WRITE;
  return a.data_is_ptr || a.count == 1 || rep_stos;
}

}  // namespace

// A single (non-rep) MMIO load or store, as hvmemul_linear_mmio_access issues it: split at
// the page boundary, each page's part in power-of-two chunks of at most 8 bytes, each chunk
// RAM or one ioreq of its own.
AccessResult HostImpl::access_mmio_single(Lock& lk, const std::shared_ptr<Domain>& d, uint32_t vcpu,
                                          const Access& a) {
  AccessResult res;
  bool any_claimed = false;
  bool any_ram = false;
  uint64_t value = 0;
  uint32_t done = 0;
  while (done < a.size) {
    const uint64_t gpa = a.addr + done;
    const uint32_t in_page = static_cast<uint32_t>(std::min<uint64_t>(a.size - done, kPage - gpa % kPage));
    uint32_t chunk = 8;
    while (chunk > in_page) {
      chunk >>= 1;
    }
    const uint64_t part = (a.data >> (8 * done)) & ones(chunk);
    uint64_t got = ones(chunk);
    if (d->p2m.contains(gpa / kPage)) {
      any_ram = true;
      if (a.dir == IOREQ_READ) {
        got = 0;
        copy_from_guest(*d, gpa, reinterpret_cast<uint8_t*>(&got), chunk);
      } else {
        copy_to_guest(*d, gpa, reinterpret_cast<const uint8_t*>(&part), chunk);
      }
    } else {
      ioreq_t p{};
      p.type = IOREQ_TYPE_COPY;
      p.addr = gpa;
      p.data = a.dir == IOREQ_WRITE ? part : 0;
      p.count = 1;
      p.size = chunk;
      p.dir = a.dir;
      const bool buffered = a.buffered && a.dir == IOREQ_WRITE && gpa <= 0xfffff && chunk == a.size;
      const AccessStatus st = send_item(lk, d, vcpu, p, buffered, res, &got);
      if (fatal(st) || st == AccessStatus::buffered) {
        res.status = st;
        return res;
      }
      any_claimed = any_claimed || st != AccessStatus::unclaimed;
    }
    if (a.dir == IOREQ_READ) {
      value |= (got & ones(chunk)) << (8 * done);
    }
    done += chunk;
  }
  res.data = value;
  res.status = any_claimed ? AccessStatus::ok : any_ram ? AccessStatus::ram : AccessStatus::unclaimed;
  return res;
}

AccessResult HostImpl::access(Lock& lk, const std::shared_ptr<Domain>& d, uint32_t vcpu, Access a) {
  AccessResult res;
  if (!well_formed(a, d->nr_vcpus, vcpu)) {
    res.status = AccessStatus::invalid;
    return res;
  }
  // A paused domain's vCPUs do not run: the access starts once it is unpaused.
  d->state_cv.wait(lk, [&] { return d->state != DomainState::paused; });
  if (d->killed()) {
    return {AccessStatus::destroyed, 0, 0};
  }
  if (!d->alive()) {
    return {AccessStatus::crashed, 0, 0};
  }
  Vcpu& v = *d->vcpus[vcpu];
  if (v.busy) {
    res.status = AccessStatus::invalid;  // one instruction at a time per vCPU
    return res;
  }
  v.busy = true;
  struct Unbusy {
    Vcpu& v;
    ~Unbusy() { v.busy = false; }
  } unbusy{v};

  if (d->mapcache_invalidate) {
    const AccessStatus st = invalidate_broadcast(lk, d, vcpu);
    if (fatal(st)) {
      return {st, 0, 0};
    }
  }

  // Xen latches 4-byte CF8 writes, then lets the access go on to the servers as any port.
  if (a.space == Space::pio && a.addr == 0xcf8 && a.size == 4 && a.dir == IOREQ_WRITE && !a.data_is_ptr) {
    d->pci_cf8 = static_cast<uint32_t>(a.data);
  }

  if (a.space == Space::mmio && a.count == 1 && !a.data_is_ptr) {
    return access_mmio_single(lk, d, vcpu, a);
  }

  // Port I/O and rep string instructions. Xen emulates at most 4096 reps at a time
  // (hvmemul_linear_to_phys), clips them at the guest buffer's page (hvmemul_do_io_addr: one
  // straddling item at least) and at the MMIO page (hvmemul_do_io), and re-executes the
  // instruction for the rest.
  uint64_t remaining = a.count;
  uint64_t addr = a.addr;
  uint64_t data = a.data;
  res.status = AccessStatus::unclaimed;
  bool any_claimed = false;
  bool any_ram = false;
  while (remaining > 0) {
    uint64_t count = std::min<uint64_t>(remaining, 4096);
    if (a.data_is_ptr) {
      const uint64_t off = data % kPage;
      const uint64_t fit = a.df ? ((off + a.size - 1) % kPage) / a.size : (kPage - off) / a.size;
      count = fit == 0 ? 1 : std::min(count, fit);
    }
    if (a.space == Space::mmio && count > 1) {
      const uint64_t off = addr % kPage;
      const uint64_t tail = kPage - off;
      count = tail < a.size ? 1 : std::min<uint64_t>(count, (a.df ? off + a.size : tail) / a.size);
    }
    const uint64_t bytes = count * a.size;
    const uint64_t step = a.df ? -bytes : bytes;
    if (a.space == Space::mmio && d->p2m.contains(addr / kPage)) {
      // rep stos / rep movs whose MMIO side is RAM: a memory copy, no ioreq.
      any_ram = true;
      std::vector<uint8_t> item(a.size);
      for (uint64_t i = 0; i < count; ++i) {
        const uint64_t target = a.df ? addr - i * a.size : addr + i * a.size;
        const uint64_t source = a.df ? data - i * a.size : data + i * a.size;
        if (!a.data_is_ptr) {
          std::memcpy(item.data(), &data, a.size);
          copy_to_guest(*d, target, item.data(), a.size);
        } else if (a.dir == IOREQ_WRITE) {
          copy_from_guest(*d, source, item.data(), a.size);
          copy_to_guest(*d, target, item.data(), a.size);
        } else {
          copy_from_guest(*d, target, item.data(), a.size);
          copy_to_guest(*d, source, item.data(), a.size);
        }
      }
    } else {
      ioreq_t p{};
      p.type = a.space == Space::pio ? IOREQ_TYPE_PIO : IOREQ_TYPE_COPY;
      p.addr = addr;
      p.data = data;
      p.count = static_cast<uint32_t>(count);
      p.size = a.size;
      p.dir = a.dir;
      p.df = a.df;
      p.data_is_ptr = a.data_is_ptr;
      // Xen 4.17 buffers only stdvga's single MMIO writes.
      const bool buffered = a.buffered && a.space == Space::mmio && a.dir == IOREQ_WRITE && count == 1 &&
                            !a.data_is_ptr && addr <= 0xfffff;
      uint64_t answer = 0;
      const AccessStatus st = send_item(lk, d, vcpu, p, buffered, res, &answer);
      if (fatal(st) || st == AccessStatus::buffered) {
        res.status = st;
        return res;
      }
      any_claimed = any_claimed || st != AccessStatus::unclaimed;
      if (a.dir == IOREQ_READ && !a.data_is_ptr) {
        res.data = answer;
      }
    }
    remaining -= count;
    if (a.space == Space::mmio) {
      addr += step;
    }
    if (a.data_is_ptr) {
      data += step;
    }
  }
  res.status = any_claimed ? AccessStatus::ok : any_ram ? AccessStatus::ram : AccessStatus::unclaimed;
  return res;
}

}  // namespace xensim
