#include "dm/dm_options.h"

#include <pwd.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <CLI/CLI.hpp>

#include <algorithm>
#include <filesystem>
#include <set>

namespace xvgpu::dm {

namespace {

// Xen's DOMID_FIRST_RESERVED: ids at and above it are special (DOMID_SELF, DOMID_IO, ...).
constexpr unsigned kFirstReservedDomid = 0x7ff0;

bool parent_is_dir(const std::string& path) {
  const auto parent = std::filesystem::path(path).parent_path();
  std::error_code ec;
  return std::filesystem::is_directory(parent.empty() ? std::filesystem::path(".") : parent, ec);
}

void check_parent(const std::string& option, const std::string& path) {
  if (path.empty()) throw UsageError(option + ": empty path");
  if (!parent_is_dir(path)) {
    throw UsageError(option + " " + path + ": directory " +
                     std::filesystem::path(path).parent_path().string() + " does not exist");
  }
}

// The default run directory is ours to create (as systemd's RuntimeDirectory would).
void ensure_default_run_dir() {
  std::error_code ec;
  std::filesystem::create_directories(kDefaultRunDir, ec);
  if (!ec) ::chmod(kDefaultRunDir, 0755);
}

}  // namespace

uint64_t parse_size(const std::string& text) {
  std::size_t used = 0;
  unsigned long long n = 0;
  try {
    n = std::stoull(text, &used, 10);
  } catch (const std::exception&) {
    used = 0;
  }
  if (used == 0 || text[0] == '-') throw Error("not a size (bytes, or a number with K, M or G)");
  const std::string unit = text.substr(used);
  unsigned shift = 0;
  if (unit == "K" || unit == "k") {
    shift = 10;
  } else if (unit == "M" || unit == "m") {
    shift = 20;
  } else if (unit == "G" || unit == "g") {
    shift = 30;
  } else if (!unit.empty()) {
    throw Error("unknown unit '" + unit + "' (K, M or G)");
  }
  constexpr unsigned long long kMax = 64ULL << 30;
  if (n > (kMax >> shift)) throw Error("over 64G");
  const uint64_t bytes = static_cast<uint64_t>(n) << shift;
  if (bytes % 4096 != 0) throw Error("not a multiple of 4K (the page size)");
  return bytes;
}

DmOptions parse_dm_options(int argc, const char* const* argv) {
  DmOptions o;
  CLI::App app{"xvgpu-dm: the virtual-GPU device model for one Xen guest domain", "xvgpu-dm"};
  app.set_help_flag("-h,--help", "Print this help and exit");
  long domid = -1;
  std::vector<std::string> vgpu_texts;
  std::string runas;
  std::string chroot_dir;
  std::string log_file;
  std::string mode_text = "0600";
  std::string seccomp_text = "kill";
  std::string vm_text;
  std::string room_text;
  std::string log_max_text;
  app.add_option("--domain", domid, "Guest domain ID to serve")->required();
  app.add_option("--vm", vm_text, "The VM (UUID or name) the domain must be; another VM's domain is refused");
  app.add_option("--hot-add-room", room_text,
                 "VRAM to hold ready for vGPUs hot-added later, e.g. 256M (default 0: hot-add of a type "
                 "with VRAM is refused); populated guest memory from the start");
  app.add_option("--vgpu", vgpu_texts, "vGPU: uuid=U,type=T[,bdf=BB:DD.F][,knob=value...] (repeatable)")
      ->take_all();
  app.add_option("--vendor-plugin", o.vendor_plugins,
                 "Vendor plugin .so, or a directory of them (repeatable)")
      ->take_all();
  app.add_option("--runas", runas, "Drop privileges to USER once set up");
  app.add_option("--chroot", chroot_dir, "chroot into DIR once set up");
  app.add_option("--log-level", o.log_level, "trace|debug|info|warn|error|critical|off (default info)");
  app.add_option("--log-file", log_file, "Log to FILE (default: stderr)");
  app.add_option(
      "--log-max-size", log_max_text,
      "Bound of a log that is a file (--log-file, or stderr to a file), e.g. 8M (default): over it, "
      "lines between the first and the latest are cut out");
  app.add_flag("--syslog", o.syslog, "Log to syslog (facility daemon) instead of stderr");
  app.add_option("--control-socket", o.control_socket,
                 "Control socket path (default /run/xvgpu/dm-DOMID.sock)");
  app.add_option("--control-socket-mode", mode_text,
                 "Permissions of the control socket, octal (default 0600)");
  app.add_option("--pidfile", o.pidfile, "PID file, written once ready (default /run/xvgpu/dm-DOMID.pid)");
  app.add_option("--xenstore-node", o.xenstore_node,
                 "xenstore node for the state key (default /local/domain/0/device-model/DOMID; 'none')");
  app.add_option("--seccomp", seccomp_text,
                 "Once set up, a system call outside the allow-list: kill (default) the process, "
                 "log it and fail it with EPERM, or off");
  app.add_flag("--emulate-pci-cf8", o.emulate_pci_cf8,
               "Claim ports 0xcf8-0xcfb and answer the PCI address register (PVH guests only; "
               "never with QEMU)");
  std::string input_qmp;
  app.add_option("--input-qmp", input_qmp,
                 "Listen on UNIX socket PATH for the guest's QEMU QMP monitor (HVM: xvgpu-qemu-wrapper "
                 "passes it) and send the consoles' keyboard and pointer events there");
  std::string restore_path;
  app.add_option("--restore-state", restore_path,
                 "Start the vGPUs from a device state saved by the save-state control command (xl "
                 "restore): each --vgpu gets its saved state, VRAM is adopted from the restored domain");
  std::string trace_path;
  app.add_option("--ioreq-trace", trace_path,
                 "Record the shape and verdict of every request Xen sends (bounded) and write them to "
                 "FILE when serving ends (docs/ioreq-conformance.md)");
  app.set_version_flag("--version", std::string("xvgpu-dm ") + XVGPU_VERSION);
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp&) {
    o.help_requested = true;
    o.help_text = app.help();
    return o;
  } catch (const CLI::CallForVersion&) {
    o.help_requested = true;
    o.help_text = std::string("xvgpu-dm ") + XVGPU_VERSION + "\n";
    return o;
  } catch (const CLI::ParseError& e) {
    std::string msg = e.what();
    std::replace(msg.begin(), msg.end(), '\n', ' ');
    throw UsageError(msg);
  }

  if (domid <= 0 || domid >= static_cast<long>(kFirstReservedDomid)) {
    throw UsageError("--domain " + std::to_string(domid) + ": must be a guest domain ID (1..32751)");
  }
  o.domid = Domid{static_cast<uint16_t>(domid)};
  if (!trace_path.empty()) {
    o.ioreq_trace = trace_path;
  }
  if (!restore_path.empty()) {
    o.restore_state = restore_path;
  }
  if (!input_qmp.empty()) {
    if (input_qmp.front() != '/') throw UsageError("--input-qmp " + input_qmp + ": must be an absolute path");
    o.input_qmp = input_qmp;
  }
  if (!room_text.empty()) {
    try {
      o.hot_add_room = parse_size(room_text);
    } catch (const Error& e) {
      throw UsageError("--hot-add-room " + room_text + ": " + e.what());
    }
  }
  if (!log_max_text.empty()) {
    try {
      o.log_max_bytes = parse_size(log_max_text);
    } catch (const Error& e) {
      throw UsageError("--log-max-size " + log_max_text + ": " + e.what());
    }
    if (o.log_max_bytes < kMinLogMaxBytes) throw UsageError("--log-max-size " + log_max_text + ": under 64K");
  }
  if (!vm_text.empty()) {
    try {
      o.vm = VmRef::parse(vm_text);
    } catch (const Error& e) {
      throw UsageError("--vm " + vm_text + ": " + e.what());
    }
  }
  const std::string d = std::to_string(domid);

  std::set<std::string> uuids;
  std::set<Sbdf> bdfs;
  for (const auto& text : vgpu_texts) {
    VgpuSpec spec;
    try {
      spec = VgpuSpec::parse(text);
    } catch (const Error& e) {
      throw UsageError("--vgpu " + text + ": " + e.what());
    }
    if (!uuids.insert(spec.uuid).second)
      throw UsageError("--vgpu " + text + ": uuid " + spec.uuid + " given twice");
    if (spec.bdf && !bdfs.insert(*spec.bdf).second) {
      throw UsageError("--vgpu " + text + ": bdf " + spec.bdf->to_string() + " used by two vGPUs");
    }
    if (spec.bdf && spec.bdf->bus == 0 && spec.bdf->dev == 0) {
      throw UsageError("--vgpu " + text + ": bdf 00:00.x is the host bridge's slot");
    }
    o.vgpus.push_back(std::move(spec));
  }

  for (const auto& p : o.vendor_plugins) {
    std::error_code ec;
    if (!std::filesystem::exists(p, ec))
      throw UsageError("--vendor-plugin " + p + ": no such file or directory");
  }
  if (!runas.empty()) {
    errno = 0;
    const passwd* pw = ::getpwnam(runas.c_str());
    if (pw == nullptr) throw UsageError("--runas " + runas + ": no such user");
    o.runas = RunAs{runas, pw->pw_uid, pw->pw_gid};
    if (::geteuid() != 0 && pw->pw_uid != ::geteuid()) {
      throw UsageError("--runas " + runas + ": changing user needs root");
    }
  }
  if (!chroot_dir.empty()) {
    std::error_code ec;
    if (!std::filesystem::is_directory(chroot_dir, ec))
      throw UsageError("--chroot " + chroot_dir + ": not a directory");
    if (::geteuid() != 0) throw UsageError("--chroot " + chroot_dir + ": chroot needs root");
    o.chroot_dir = std::filesystem::absolute(chroot_dir).string();
  }
  static const std::set<std::string> levels{"trace", "debug", "info", "warn", "error", "critical", "off"};
  if (levels.count(o.log_level) == 0) {
    throw UsageError("--log-level " + o.log_level +
                     ": must be one of trace, debug, info, warn, error, critical, off");
  }
  if (!log_file.empty()) {
    if (o.syslog) throw UsageError("--log-file " + log_file + ": cannot be combined with --syslog");
    check_parent("--log-file", log_file);
    o.log_file = std::filesystem::absolute(log_file).string();
  }
  {
    unsigned long mode = 0;
    std::size_t used = 0;
    try {
      mode = std::stoul(mode_text, &used, 8);
    } catch (const std::exception&) {
      used = 0;
    }
    if (used != mode_text.size() || mode > 0777) {
      throw UsageError("--control-socket-mode " + mode_text + ": not an octal permission mode (e.g. 0600)");
    }
    o.control_socket_mode = static_cast<mode_t>(mode);
  }
  if (o.control_socket.empty() || o.pidfile.empty()) ensure_default_run_dir();
  if (o.control_socket.empty()) o.control_socket = std::string(kDefaultRunDir) + "/dm-" + d + ".sock";
  check_parent("--control-socket", o.control_socket);
  o.control_socket = std::filesystem::absolute(o.control_socket).string();
  if (o.control_socket.size() >= sizeof(sockaddr_un::sun_path)) {
    throw UsageError("--control-socket " + o.control_socket + ": path longer than " +
                     std::to_string(sizeof(sockaddr_un::sun_path) - 1) + " bytes");
  }
  if (o.pidfile.empty()) o.pidfile = std::string(kDefaultRunDir) + "/dm-" + d + ".pid";
  check_parent("--pidfile", o.pidfile);
  o.pidfile = std::filesystem::absolute(o.pidfile).string();
  if (o.xenstore_node.empty()) o.xenstore_node = "/local/domain/0/device-model/" + d;
  if (o.xenstore_node != "none" && (o.xenstore_node.front() != '/' || o.xenstore_node.back() == '/')) {
    throw UsageError("--xenstore-node " + o.xenstore_node + ": must be an absolute xenstore path or 'none'");
  }
  if (seccomp_text == "kill") {
    o.seccomp = SeccompMode::Kill;
  } else if (seccomp_text == "log") {
    o.seccomp = SeccompMode::Log;
  } else if (seccomp_text == "off") {
    o.seccomp = SeccompMode::Off;
  } else {
    throw UsageError("--seccomp " + seccomp_text + ": must be kill, log or off");
  }
  return o;
}

}  // namespace xvgpu::dm
