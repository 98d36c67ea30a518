#include "ioreq/domain_identity.h"

// clang-format off
extern "C" {
#include <xenctrl.h>
#include <xenstore.h>
}
// clang-format on

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <memory>

#include "common/error.h"

namespace xvgpu::ioreq {

namespace {

using XcPtr = std::unique_ptr<xc_interface, int (*)(xc_interface*)>;
using XsPtr = std::unique_ptr<xs_handle, void (*)(xs_handle*)>;

XcPtr open_xc(const std::string& ctx) {
  XcPtr xc(xc_interface_open(nullptr, nullptr, 0), xc_interface_close);
  if (!xc) {
    throw SystemError(errno != 0 ? errno : EIO, ctx + ": xc_interface_open");
  }
  return xc;
}

std::string read_name(xs_handle* xs, uint16_t domid) {
  if (xs == nullptr) {
    return {};
  }
  const std::string path = "/local/domain/" + std::to_string(domid) + "/name";
  unsigned len = 0;
  const std::unique_ptr<char, void (*)(void*)> v(
      static_cast<char*>(xs_read(xs, XBT_NULL, path.c_str(), &len)), std::free);
  return v ? std::string(v.get(), len) : std::string();
}

DomainIdentity identity_of(const xc_domaininfo_t& info, xs_handle* xs) {
  DomainIdentity id;
  id.domid = Domid{info.domain};
  static_assert(sizeof info.handle == sizeof id.handle);
  std::memcpy(id.handle.data(), info.handle, id.handle.size());
  id.name = read_name(xs, info.domain);
  id.dying = (info.flags & XEN_DOMINF_dying) != 0;
  return id;
}

}  // namespace

std::string handle_text(const std::array<uint8_t, 16>& handle) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (std::size_t i = 0; i < handle.size(); ++i) {
    if (i == 4 || i == 6 || i == 8 || i == 10) {
      out += '-';
    }
    out += kHex[handle[i] >> 4];
    out += kHex[handle[i] & 0xf];
  }
  return out;
}

std::optional<DomainIdentity> domain_identity(Domid domid) {
  const std::string ctx = "dom" + std::to_string(domid.value) + ": reading the domain's identity";
  const XcPtr xc = open_xc(ctx);
  xc_domaininfo_t info{};
  const int n = xc_domain_getinfolist(xc.get(), domid.value, 1, &info);
  check_errno(n, ctx + ": xc_domain_getinfolist");
  if (n != 1 || info.domain != domid.value) {
    return std::nullopt;  // the first domain at or above domid is another one
  }
  const XsPtr xs(xs_open(XS_OPEN_READONLY), xs_close);
  return identity_of(info, xs.get());
}

std::vector<DomainIdentity> list_domain_identities() {
  const std::string ctx = "listing domains";
  const XcPtr xc = open_xc(ctx);
  const XsPtr xs(xs_open(XS_OPEN_READONLY), xs_close);
  std::vector<DomainIdentity> out;
  std::vector<xc_domaininfo_t> infos(256);
  uint32_t first = 1;
  for (;;) {
    const int n = xc_domain_getinfolist(xc.get(), first, static_cast<unsigned>(infos.size()), infos.data());
    check_errno(n, ctx + ": xc_domain_getinfolist");
    for (int i = 0; i < n; ++i) {
      out.push_back(identity_of(infos[static_cast<std::size_t>(i)], xs.get()));
    }
    if (n < static_cast<int>(infos.size())) {
      break;
    }
    first = static_cast<uint32_t>(infos[infos.size() - 1].domain) + 1;
  }
  return out;
}

}  // namespace xvgpu::ioreq
