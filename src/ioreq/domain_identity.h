// Which VM a domain is: its handle (xen_domain_handle_t, the UUID its toolstack gave it: xl.cfg
// uuid=, `xl list -v`) from Xen, and its name from xenstore (/local/domain/N/name, written by
// libxl at creation). A domid names one boot of a VM; handle and name name the VM.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "common/types.h"

namespace xvgpu::ioreq {

struct DomainIdentity {
  Domid domid{};
  std::array<uint8_t, 16> handle{};
  std::string name;    // "" when xenstore has none (no xenstored, or not written yet)
  bool dying = false;  // destroyed, kept while mappings of its memory remain
};

// The canonical lower-case text of a handle (8-4-4-4-12).
std::string handle_text(const std::array<uint8_t, 16>& handle);

// The identity of domain `domid`, or nullopt when there is none. Throws SystemError when Xen
// cannot be asked; a xenstore that cannot be reached leaves the name empty.
std::optional<DomainIdentity> domain_identity(Domid domid);

// Every guest domain (dom0 excluded, dying ones too), in domid order.
std::vector<DomainIdentity> list_domain_identities();

}  // namespace xvgpu::ioreq
