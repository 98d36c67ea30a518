// Which ioreq server this process registered with Xen, recorded host-wide so that a device
// model started after this one was killed can remove the server Xen still keeps for it
// (ioreq/stale_ioreq_server.h). One file per live device model,
// <state dir>/ioreq-servers/dom<D>-<pid>, holding the server id, flock-held for the process's
// life like the vGPU reservations (gpu/host_accounting.h): a file nobody holds is stale.
#pragma once

#include <cstdint>
#include <filesystem>
#include <vector>

#include "common/types.h"
#include "common/unique_fd.h"

namespace xvgpu::dm {

struct StaleServer {
  std::filesystem::path file;
  long pid = 0;  // of the dead device model
  uint16_t id = 0;
};

// Stale records of `domid` whose server id no live record of that domain uses (a live device
// model may have been given the same id after the killed one's server was destroyed).
std::vector<StaleServer> find_stale_servers(const std::filesystem::path& state_dir, Domid domid);

class ServerRecord {
 public:
  // Creates and locks the record. Throws SystemError naming the file.
  ServerRecord(const std::filesystem::path& state_dir, Domid domid, uint16_t id);
  ServerRecord(const ServerRecord&) = delete;
  ServerRecord& operator=(const ServerRecord&) = delete;
  ~ServerRecord();  // removes the file (a graceful exit destroyed the server itself)

 private:
  std::filesystem::path file_;
  UniqueFd fd_;
};

}  // namespace xvgpu::dm
