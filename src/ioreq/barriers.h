// CPU memory barriers for the pages shared with Xen. These are real fences (not only
// compiler barriers): the other side is another CPU running the hypervisor, and the ioreq
// protocol's correctness rests on ordering `data` before `state` (XSA-262 class bugs).
#pragma once

namespace xvgpu::ioreq {

#if defined(__x86_64__) || defined(__i386__)
inline void read_barrier() {
  asm volatile("lfence" ::: "memory");
}
inline void write_barrier() {
  asm volatile("sfence" ::: "memory");
}
inline void full_barrier() {
  asm volatile("mfence" ::: "memory");
}
#elif defined(__aarch64__)
inline void read_barrier() {
  asm volatile("dmb ishld" ::: "memory");
}
inline void write_barrier() {
  asm volatile("dmb ishst" ::: "memory");
}
inline void full_barrier() {
  asm volatile("dmb ish" ::: "memory");
}
#else
inline void read_barrier() {
  __atomic_thread_fence(__ATOMIC_SEQ_CST);
}
inline void write_barrier() {
  __atomic_thread_fence(__ATOMIC_SEQ_CST);
}
inline void full_barrier() {
  __atomic_thread_fence(__ATOMIC_SEQ_CST);
}
#endif

}  // namespace xvgpu::ioreq
