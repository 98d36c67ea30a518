// libxentoolcore's internal registration interface (xentoolcore_internal.h in Xen's tree,
// not installed by Debian), with Xen's layout so Debian libraries could register too.
#pragma once

#include <xen/xen.h>

// NOLINTBEGIN(bugprone-reserved-identifier): these are Xen's ABI names.
extern "C" {
typedef struct Xentoolcore__Active_Handle Xentoolcore__Active_Handle;
typedef int Xentoolcore__Restrict_Callback(Xentoolcore__Active_Handle*, domid_t domid);
struct Xentoolcore__Active_Handle {
  Xentoolcore__Restrict_Callback* restrict_callback;
  struct {
    Xentoolcore__Active_Handle* le_next;
    Xentoolcore__Active_Handle** le_prev;
  } entry;
};
void xentoolcore__register_active_handle(Xentoolcore__Active_Handle* ah);
void xentoolcore__deregister_active_handle(Xentoolcore__Active_Handle* ah);
int xentoolcore__restrict_by_dup2_null(int fd);
}
// NOLINTEND(bugprone-reserved-identifier)
