// The control socket's JSON requests, end to end: the input is sent as raw bytes on a fresh
// connection to a real ControlServer (its own thread, line framing, dispatch), whose handler
// extracts arguments the way xvgpu-dm's commands do (vGPU spec, UUID, knob name/value). Every
// reply must be a well-formed response, there can be no more replies than request lines, and
// the server must keep accepting connections afterwards.
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>

#include "control/control_protocol.h"
#include "control/vgpu_spec.h"
#include "dm/control_server.h"
#include "fuzz_input.h"
#include "support/temp_dir.h"

namespace {

using nlohmann::json;
using namespace xvgpu;

json handle(const json& req) {
  const std::string cmd = req.at("cmd").get<std::string>();
  json out = json::object();
  if (req.contains("uuid")) {
    const auto u = canonical_uuid(req["uuid"].get<std::string>());
    if (!u) throw control::RequestError(control::kErrBadRequest, "bad uuid");
    out["uuid"] = *u;
  }
  if (cmd == control::kHotAdd) {
    const auto spec = VgpuSpec::parse(req.at("vgpu").get<std::string>());
    if (VgpuSpec::parse(spec.to_string()).to_string() != spec.to_string())
      fuzz::violation("vGPU spec does not round-trip");
    out["vgpu"] = spec.to_string();
  } else if (cmd == control::kKnobSet) {
    out["name"] = req.at("name").get<std::string>();
    out["value"] = req.at("value").is_string() ? req["value"].get<std::string>() : req["value"].dump();
  } else if (cmd == control::kScreenshot && req.contains("data")) {
    out["png"] = control::base64_encode(control::base64_decode(req["data"].get<std::string>()));
  } else if (cmd != control::kStatus && cmd != control::kStats) {
    throw control::RequestError(control::kErrUnknownCmd, "unknown command");
  }
  return out;
}

// One server for the whole fuzzing run; its socket's directory goes when the process exits.
struct Server {
  Server() {
    server = std::make_unique<control::ControlServer>(path, 0600, handle);
    server->start();
  }
  TempDir dir{"xvgpu-fuzz-ctl-"};  // first: destroyed after the server
  std::string path = (dir.path() / "ctl.sock").string();
  std::unique_ptr<control::ControlServer> server;
};

UniqueFd connect_to(const std::string& path) {
  UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::strncpy(addr.sun_path, path.c_str(), sizeof addr.sun_path - 1);
  if (::connect(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0)
    fuzz::violation("control server stopped accepting connections");
  return fd;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static Server s;
  if (size > 256 * 1024) return 0;
  UniqueFd fd = connect_to(s.path);
  size_t sent = 0;
  while (sent < size) {
    const ssize_t n = ::send(fd.get(), data + sent, size - sent, MSG_NOSIGNAL);
    if (n <= 0) break;  // the server may hang up on a malformed line
    sent += static_cast<size_t>(n);
  }
  ::shutdown(fd.get(), SHUT_WR);
  size_t lines = 0;
  for (size_t i = 0; i < size; ++i) lines += data[i] == '\n';
  control::MessageStream stream(std::move(fd));
  size_t replies = 0;
  try {
    json reply;
    while (stream.read(reply, std::chrono::seconds(10))) {
      if (++replies > lines) fuzz::violation("more replies than request lines");
      if (!reply.is_object() || !reply.contains("ok") || !reply["ok"].is_boolean())
        fuzz::violation("reply without a boolean ok");
      if (reply["ok"].get<bool>() ? !reply.contains("result")
                                  : !(reply.contains("error") && reply.contains("code")))
        fuzz::violation("reply lacks result or error/code");
    }
  } catch (const control::ControlError& e) {
    // The server hung up mid-way (it does after a malformed line): fine, but never a bad reply.
    (void)e;
  }
  return 0;
}
