// A stand-in for libkmod.so.2 in the guest image (built by mkinitramfs-guest.sh). lspci asks libkmod only which
// kernel modules could drive a device (the "Kernel modules:" lines); the guest has no module index, so the real
// library could only fail there too ("Unable to load libkmod resources"). It would bring libcrypto, libzstd and
// liblzma along: half of the compressed guest image, which an HVM guest reads byte by byte through fw_cfg.
// Every entry point lspci uses answers "unavailable" (lspci then prints no module lines).
#include <errno.h>
#include <stddef.h>

struct kmod_ctx;
struct kmod_list;
struct kmod_module;

struct kmod_ctx* kmod_new(const char* dirname, const char* const* config_paths) {
  (void)dirname;
  (void)config_paths;
  return NULL;
}

struct kmod_ctx* kmod_unref(struct kmod_ctx* ctx) {
  (void)ctx;
  return NULL;
}

int kmod_load_resources(struct kmod_ctx* ctx) {
  (void)ctx;
  return -ENOENT;
}

int kmod_module_new_from_lookup(struct kmod_ctx* ctx, const char* given_alias, struct kmod_list** list) {
  (void)ctx;
  (void)given_alias;
  if (list != NULL) *list = NULL;
  return -ENOENT;
}

struct kmod_list* kmod_list_next(const struct kmod_list* list, const struct kmod_list* curr) {
  (void)list;
  (void)curr;
  return NULL;
}

struct kmod_module* kmod_module_get_module(const struct kmod_list* entry) {
  (void)entry;
  return NULL;
}

const char* kmod_module_get_name(const struct kmod_module* mod) {
  (void)mod;
  return NULL;
}

struct kmod_module* kmod_module_unref(struct kmod_module* mod) {
  (void)mod;
  return NULL;
}

int kmod_module_unref_list(struct kmod_list* list) {
  (void)list;
  return 0;
}
