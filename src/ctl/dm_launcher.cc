#include "ctl/dm_launcher.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>
#include <thread>

#include <nlohmann/json.hpp>

#include "common/unique_fd.h"
#include "control/control_protocol.h"
#include "control/pidfile.h"

namespace xvgpu::ctl {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

RunPaths RunPaths::of(const std::string& run_dir, Domid domid) {
  const std::string base = run_dir + "/dm-" + std::to_string(domid.value);
  return {base + ".sock", base + ".pid", base + ".log"};
}

std::string run_log_dir(const std::string& run_dir) {
  return run_dir + "/log";
}

std::string run_log_key(const std::string& vm_name, const std::string& vm_uuid, Domid domid) {
  std::string key = !vm_name.empty()   ? vm_name
                    : !vm_uuid.empty() ? vm_uuid
                                       : "domain-" + std::to_string(domid.value);
  for (char& c : key) {
    if (std::isalnum(static_cast<unsigned char>(c)) == 0 && c != '.' && c != '_' && c != '-') c = '_';
  }
  if (key.front() == '.') key.front() = '_';  // no hidden files, no "." or ".."
  return key;
}

namespace {

// The start stamp and the same-second counter of KEY.YYYYMMDDTHHMMSSZ[-N].log, or nothing for another file.
// Parsed by hand: GCC 12 warns (maybe-uninitialized) inside std::regex under the sanitizer build.
std::optional<std::pair<std::string, unsigned>> run_log_order(const std::string& name,
                                                              const std::string& key) {
  if (name.size() <= key.size() + 1 || name.compare(0, key.size(), key) != 0 || name[key.size()] != '.')
    return {};
  const std::string_view rest = std::string_view(name).substr(key.size() + 1);
  auto digits = [](std::string_view s) {
    return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
  };
  constexpr size_t kStamp = 16;  // YYYYMMDDTHHMMSSZ
  if (rest.size() < kStamp + 4 || !digits(rest.substr(0, 8)) || rest[8] != 'T' ||
      !digits(rest.substr(9, 6)) || rest[15] != 'Z' || !rest.ends_with(".log"))
    return {};
  const std::string_view tail = rest.substr(kStamp, rest.size() - kStamp - 4);  // "" or "-N"
  unsigned n = 1;
  if (!tail.empty()) {
    const std::string_view count = tail.substr(1);
    if (tail[0] != '-' || count.size() > 4 || !digits(count)) return {};
    n = static_cast<unsigned>(std::stoul(std::string(count)));
  }
  return std::make_pair(std::string(rest.substr(0, kStamp)), n);
}

}  // namespace

RunLog open_run_log(const std::string& run_dir, Domid domid, const std::string& key) {
  const std::string dir = run_log_dir(run_dir);
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) throw Error("cannot create log directory " + dir + ": " + ec.message());
  const std::time_t now = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now());
  std::tm utc{};
  ::gmtime_r(&now, &utc);
  char stamp[32];
  if (std::strftime(stamp, sizeof stamp, "%Y%m%dT%H%M%SZ", &utc) == 0)
    throw Error("formatting the start time");
  // The VM's runs so far. A run in the same second as earlier ones counts on from the highest of them: a name
  // freed by the pruning below must not come back as an older-looking name for a newer run.
  std::vector<std::pair<std::pair<std::string, unsigned>, fs::path>> runs;
  unsigned first = 1;
  for (const auto& e : fs::directory_iterator(dir, ec)) {
    if (auto order = run_log_order(e.path().filename().string(), key)) {
      if (order->first == stamp) first = std::max(first, order->second + 1);
      runs.emplace_back(*order, e.path());
    }
  }
  RunLog log;
  for (unsigned n = first; !log.fd; ++n) {
    log.path = dir;
    log.path.append("/").append(key).append(".").append(stamp);
    if (n > 1) log.path.append("-").append(std::to_string(n));
    log.path.append(".log");
    log.fd.reset(::open(log.path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_APPEND | O_CLOEXEC, 0640));
    if (!log.fd && (errno != EEXIST || n >= first + 1000))
      throw Error("cannot create " + log.path + ": " + std::strerror(errno));
    if (log.fd) runs.emplace_back(std::make_pair(std::string(stamp), n), log.path);
  }
  // RUN_DIR/dm-DOMID.log names the latest run of the domain, replaced in one step.
  const std::string link = RunPaths::of(run_dir, domid).log;
  const std::string tmp = link + ".new";
  fs::remove(tmp, ec);
  fs::create_symlink(fs::path("log") / fs::path(log.path).filename(), tmp, ec);
  if (!ec) fs::rename(tmp, link, ec);
  if (ec) throw Error("cannot point " + link + " at " + log.path + ": " + ec.message());
  // The VM's older runs beyond the newest kKeptRunLogs.
  std::sort(runs.begin(), runs.end(), [](const auto& a, const auto& b) { return a.first > b.first; });
  for (std::size_t i = kKeptRunLogs; i < runs.size(); ++i) fs::remove(runs[i].second, ec);
  return log;
}

std::vector<std::string> dm_command_line(const LaunchRequest& r) {
  const RunPaths paths = RunPaths::of(r.run_dir, r.domid);
  std::vector<std::string> argv{r.dm_path,          "--domain",   std::to_string(r.domid.value),
                                "--control-socket", paths.socket, "--pidfile",
                                paths.pidfile};
  for (const auto& v : r.vgpus) {
    argv.emplace_back("--vgpu");
    argv.push_back(v.to_string());
  }
  for (const auto& p : r.vendor_plugins) {
    argv.emplace_back("--vendor-plugin");
    argv.push_back(p);
  }
  argv.insert(argv.end(), r.extra_args.begin(), r.extra_args.end());
  return argv;
}

namespace {

std::vector<char*> c_argv(std::vector<std::string>& args) {
  std::vector<char*> out;
  out.reserve(args.size() + 1);
  for (auto& a : args) out.push_back(a.data());
  out.push_back(nullptr);
  return out;
}

// The log's last few lines, as one line.
std::string log_tail(const std::string& path) {
  std::ifstream in(path);
  if (!in) return {};
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);) {
    if (!line.empty()) lines.push_back(line);
  }
  std::string out;
  const std::size_t first = lines.size() > 3 ? lines.size() - 3 : 0;
  for (std::size_t i = first; i < lines.size(); ++i) out += (out.empty() ? "" : " | ") + lines[i];
  return out;
}

bool answers(const std::string& socket) {
  try {
    control::Client c(socket, std::chrono::milliseconds(500));
    const auto st = c.call({{"cmd", std::string(control::kStatus)}});
    return st.value("state", std::string()) == "running";
  } catch (const std::exception&) {
    return false;
  }
}

}  // namespace

Launched launch_dm(const LaunchRequest& r) {
  const RunPaths paths = RunPaths::of(r.run_dir, r.domid);
  std::error_code ec;
  fs::create_directories(r.run_dir, ec);
  if (ec) throw LaunchError("cannot create run directory " + r.run_dir + ": " + ec.message(), -1);
  if (auto owner = dm::pidfile_owner(paths.pidfile)) {
    throw LaunchError("a device model for domain " + std::to_string(r.domid.value) +
                          " is already running (pid " + std::to_string(*owner) + ")",
                      -1);
  }
  RunLog run_log;
  try {
    run_log = open_run_log(r.run_dir, r.domid, r.log_key.empty() ? run_log_key("", "", r.domid) : r.log_key);
  } catch (const Error& e) {
    throw LaunchError(e.what(), -1);
  }
  const UniqueFd& log = run_log.fd;
  auto args = dm_command_line(r);
  auto argv = c_argv(args);
  const pid_t pid = ::fork();
  if (pid < 0) throw LaunchError(std::string("fork: ") + std::strerror(errno), -1);
  if (pid == 0) {
    // Child: detach from the caller's session and terminal (the xl wrapper execs qemu next).
    ::setsid();
    const int devnull = ::open("/dev/null", O_RDWR);
    if (devnull >= 0) {
      ::dup2(devnull, STDIN_FILENO);
      ::dup2(log.get(), STDOUT_FILENO);
      ::dup2(log.get(), STDERR_FILENO);
    }
    ::execvp(argv[0], argv.data());
    const std::string msg = std::string("xvgpuctl: exec ") + argv[0] + ": " + std::strerror(errno) + "\n";
    if (::write(STDERR_FILENO, msg.data(), msg.size()) < 0) _exit(127);
    _exit(127);
  }
  const auto deadline = Clock::now() + r.timeout;
  for (;;) {
    int status = 0;
    const pid_t w = ::waitpid(pid, &status, WNOHANG);
    if (w == pid) {
      const int code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
      throw LaunchError("xvgpu-dm for domain " + std::to_string(r.domid.value) + " exited with status " +
                            std::to_string(code) + ": " + log_tail(run_log.path),
                        code);
    }
    if (answers(paths.socket) && dm::pidfile_owner(paths.pidfile)) return {pid, run_log.path};
    if (Clock::now() > deadline) {
      ::kill(pid, SIGTERM);
      ::waitpid(pid, &status, 0);
      throw LaunchError("xvgpu-dm for domain " + std::to_string(r.domid.value) + " not ready after " +
                            std::to_string(r.timeout.count()) + " ms (stopped it): " + log_tail(run_log.path),
                        -1);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
}

void exec_dm(const LaunchRequest& r) {
  auto args = dm_command_line(r);
  auto argv = c_argv(args);
  ::execvp(argv[0], argv.data());
  throw SystemError(errno, "exec " + args[0]);
}

StopResult stop_dm(const std::string& run_dir, Domid domid, std::chrono::milliseconds timeout) {
  const RunPaths paths = RunPaths::of(run_dir, domid);
  const auto owner = dm::pidfile_owner(paths.pidfile);
  StopResult r;
  r.pid = owner.value_or(0);
  bool asked = false;
  try {
    control::Client c(paths.socket, std::chrono::milliseconds(2000));
    c.call({{"cmd", std::string(control::kShutdown)}});
    asked = true;
  } catch (const std::exception&) {
    // Not answering: fall through to signals if a process holds the pidfile.
  }
  if (!owner && !asked) return r;
  auto gone = [&] { return !dm::pidfile_owner(paths.pidfile); };
  auto wait_gone = [&](std::chrono::milliseconds t) {
    const auto deadline = Clock::now() + t;
    while (Clock::now() < deadline) {
      if (gone()) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return gone();
  };
  // A signalled process leaves its socket and pidfile: nobody else removes them.
  auto forced = [&](StopOutcome how) {
    std::error_code ec;
    fs::remove(paths.socket, ec);
    fs::remove(paths.pidfile, ec);
    r.outcome = how;
    return r;
  };
  if (wait_gone(timeout)) {
    r.outcome = StopOutcome::shut_down;
    return r;
  }
  if (owner && *owner > 0) {
    ::kill(*owner, SIGTERM);
    if (wait_gone(timeout)) return forced(StopOutcome::terminated);
    ::kill(*owner, SIGKILL);
    if (wait_gone(timeout)) return forced(StopOutcome::killed);
  }
  throw Error("device model of domain " + std::to_string(domid.value) + " did not exit");
}

std::vector<RunningDm> list_dm_sockets(const std::string& run_dir) {
  std::vector<RunningDm> out;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(run_dir, ec)) {
    const std::string name = e.path().filename().string();
    if (name.rfind("dm-", 0) != 0 || e.path().extension() != ".sock") continue;
    const std::string num = name.substr(3, name.size() - 3 - 5);
    char* end = nullptr;
    const long d = std::strtol(num.c_str(), &end, 10);
    if (num.empty() || *end != '\0' || d <= 0 || d >= 0x7ff0) continue;
    out.push_back({Domid{static_cast<uint16_t>(d)}, e.path().string()});
  }
  std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.domid < b.domid; });
  return out;
}

std::string default_dm_path(const char* argv0) {
  if (const char* env = std::getenv("XVGPU_DM"); env != nullptr && *env != '\0') return env;
  std::error_code ec;
  const auto self = fs::read_symlink("/proc/self/exe", ec);
  if (!ec) {
    for (const auto& candidate :
         {self.parent_path() / "xvgpu-dm", self.parent_path().parent_path() / "dm" / "xvgpu-dm"}) {
      if (fs::exists(candidate, ec)) return candidate.string();
    }
  }
  (void)argv0;
  for (const char* dir : {"/usr/sbin", "/usr/local/sbin", "/usr/bin", "/usr/local/bin"}) {
    const auto p = fs::path(dir) / "xvgpu-dm";
    if (fs::exists(p, ec)) return p.string();
  }
  return "xvgpu-dm";
}

}  // namespace xvgpu::ctl
