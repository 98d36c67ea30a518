// The Debian Xen 4.17 public headers xensim is compiled against (tools interfaces on).
#pragma once

#ifndef __XEN_TOOLS__
#define __XEN_TOOLS__ 1
#endif
#include <xen/event_channel.h>
#include <xen/hvm/dm_op.h>
#include <xen/hvm/hvm_op.h>
#include <xen/hvm/ioreq.h>
#include <xen/hvm/params.h>
#include <xen/memory.h>
#include <xen/sched.h>
#include <xen/xen.h>

#include <cstddef>

namespace xensim {
static_assert(sizeof(ioreq_t) == 32);
static_assert(offsetof(ioreq_t, type) == 31);
// The byte holding state:4, data_is_ptr:1, dir:1, df:1.
inline constexpr size_t kIoreqFlagsOffset = 30;
static_assert(sizeof(buffered_iopage_t) <= 4096);
}  // namespace xensim
