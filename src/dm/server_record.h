// Which ioreq server this process registered with Xen, and for which instance of the domain,
// recorded host-wide so that a device model started after this one was killed can remove the
// server Xen still keeps for it (ioreq/stale_ioreq_server.h). One file per live device model,
// <state dir>/ioreq-servers/dom<D>-<pid>, flock-held for the process's life like the vGPU
// reservations (gpu/host_accounting.h): a file nobody holds is stale.
//
// Domids are reused (they wrap, a restarted toolstack may hand one out again), so a record also
// names the domain's handle (its UUID): a successor destroys the recorded server only when the
// live domain still has that handle. Format (version 2), five lines:
//   xvgpu-ioreq-server-record 2
//   domid <D>
//   domain-handle <UUID>
//   server-id <id>
//   pid <pid>
// Version 1 (before handles) was the server id alone on one line; it is still read. A clean
// exit that cannot remove its record (--runas, --chroot) overwrites the first line with
// "xvgpu-ioreq-server-released" through the descriptor it holds: nothing left to recover.
#pragma once

#include <array>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/types.h"
#include "common/unique_fd.h"

namespace xvgpu::dm {

using DomainHandle = std::array<uint8_t, 16>;  // xen_domain_handle_t

// xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx, as xl shows a domain's UUID.
std::string to_string(const DomainHandle& h);
std::optional<DomainHandle> parse_domain_handle(std::string_view text);

struct ServerRecordContents {
  unsigned version = 2;
  Domid domid{};
  std::optional<DomainHandle> domain;  // nullopt in a version-1 record
  uint16_t server_id = 0;
  long pid = 0;
  bool released = false;  // its device model exited cleanly (destroyed the server itself)
};

// The record's text, and back. parse_server_record checks the text against the file's name
// (domid, pid) and throws Error saying what is wrong with it (truncated, unknown version, ...).
std::string format_server_record(const ServerRecordContents& r);
ServerRecordContents parse_server_record(std::string_view text, Domid domid, long pid);

struct StaleServer {
  std::filesystem::path file;
  long pid = 0;  // of the dead device model
  uint16_t id = 0;
  std::optional<DomainHandle> domain;  // the instance it served; nullopt: version-1 record
};

// A record this version cannot act on (corrupt, truncated, another version); already removed.
struct RefusedRecord {
  std::filesystem::path file;
  std::string why;
};

struct StaleRecords {
  std::vector<StaleServer> stale;
  std::vector<RefusedRecord> refused;
};

// Stale records of `domid` whose (instance, server id) no live record of that domain uses (a
// live device model may have been given the same id after the killed one's server was
// destroyed); those shadowed ones are removed, as are refused ones and unpublished temporaries.
StaleRecords find_stale_servers(const std::filesystem::path& state_dir, Domid domid);

// What a successor does with a stale record, given the live domain's handle (nullopt: no such
// domain).
enum class StaleVerdict {
  destroy,         // same domain instance: destroy the server, drop the record
  domain_gone,     // the domain no longer exists (its servers went with it): drop the record
  other_instance,  // the domid now names another domain: leave its servers alone, drop the record
  unverifiable,    // no usable handle in the record: leave the server alone, drop the record
};
StaleVerdict judge_stale_server(const StaleServer& s, const std::optional<DomainHandle>& live);

// Removes a record file (after its verdict was carried out).
void discard_record(const StaleServer& s);

class ServerRecord {
 public:
  // Publishes and locks the record (written to a locked temporary, then renamed: a reader
  // never sees a partial one). Throws SystemError naming the file.
  ServerRecord(const std::filesystem::path& state_dir, Domid domid, const DomainHandle& domain, uint16_t id);
  ServerRecord(const ServerRecord&) = delete;
  ServerRecord& operator=(const ServerRecord&) = delete;
  ~ServerRecord();  // removes the file (a graceful exit destroyed the server itself)

  [[nodiscard]] const std::string& name() const { return name_; }

 private:
  std::string name_;
  UniqueFd dir_;  // opened before --chroot, so that the record can still be removed after it
  UniqueFd fd_;
};

}  // namespace xvgpu::dm
