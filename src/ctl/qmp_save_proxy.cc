#include "ctl/qmp_save_proxy.h"

#include <poll.h>
#include <signal.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <fstream>
#include <list>
#include <optional>
#include <thread>
#include <vector>

#include "common/error.h"
#include "common/unique_fd.h"

namespace xvgpu::ctl {

namespace {

constexpr size_t kMaxFds = 16;
constexpr size_t kMaxLine = size_t{1} << 20;

sockaddr_un address_of(const std::string& path) {
  sockaddr_un a{};
  a.sun_family = AF_UNIX;
  if (path.size() >= sizeof a.sun_path) throw Error("socket path too long: " + path);
  std::memcpy(a.sun_path, path.c_str(), path.size() + 1);
  return a;
}

UniqueFd connect_to(const std::string& path) {
  const auto a = address_of(path);
  for (int attempt = 0; attempt < 50; ++attempt) {
    UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    if (!fd) throw SystemError(errno, "socket");
    if (::connect(fd.get(), reinterpret_cast<const sockaddr*>(&a), sizeof a) == 0) return fd;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));  // qemu-xen may still be starting
  }
  throw SystemError(errno, "connecting to qemu-xen's QMP socket " + path);
}

bool write_all(int fd, const char* p, size_t n) {
  while (n > 0) {
    const ssize_t w = ::send(fd, p, n, MSG_NOSIGNAL);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return false;
    p += w;
    n -= static_cast<size_t>(w);
  }
  return true;
}

// One libxl connection and its own connection to qemu-xen.
struct Pair {
  UniqueFd client;
  UniqueFd qemu;
  std::string client_line;                // the command being received (inspected when complete)
  std::string qemu_lines;                 // qemu-xen's output not yet passed on (complete lines are)
  std::vector<UniqueFd> passed;           // duplicates of descriptors libxl passed (add-fd)
  std::optional<nlohmann::json> save_id;  // id of a pending xen-save-devices-state
  bool dead = false;
};

void inspect_command(Pair& p, const std::string& line) {
  const auto j = nlohmann::json::parse(line, nullptr, false);
  if (!j.is_object() || j.value("execute", "") != "xen-save-devices-state") return;
  p.save_id = j.contains("id") ? j["id"] : nlohmann::json();
  spdlog::info("qmp proxy: xen-save-devices-state {}", line.substr(0, line.find_last_not_of("\r\n") + 1));
}

// libxl -> qemu-xen: bytes and descriptors unchanged; complete lines inspected first.
void from_client(Pair& p) {
  char buf[65536];
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int) * kMaxFds)];
  iovec iov{buf, sizeof buf};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control;
  msg.msg_controllen = sizeof control;
  const ssize_t n = ::recvmsg(p.client.get(), &msg, MSG_CMSG_CLOEXEC);
  if (n <= 0) {
    p.dead = true;
    return;
  }
  std::vector<int> fds;
  for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c != nullptr; c = CMSG_NXTHDR(&msg, c)) {
    if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS) {
      const size_t count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
      for (size_t i = 0; i < count; ++i) {
        int fd = -1;
        std::memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof fd);
        fds.push_back(fd);
      }
    }
  }
  for (ssize_t i = 0; i < n; ++i) {
    p.client_line.push_back(buf[i]);
    if (buf[i] == '\n') {
      inspect_command(p, p.client_line);
      p.client_line.clear();
    } else if (p.client_line.size() > kMaxLine) {
      p.client_line.clear();
    }
  }
  msghdr out{};
  iovec oiov{buf, static_cast<size_t>(n)};
  out.msg_iov = &oiov;
  out.msg_iovlen = 1;
  alignas(cmsghdr) char ocontrol[CMSG_SPACE(sizeof(int) * kMaxFds)] = {};
  if (!fds.empty()) {
    out.msg_control = ocontrol;
    out.msg_controllen = CMSG_SPACE(sizeof(int) * fds.size());
    auto* c = reinterpret_cast<cmsghdr*>(ocontrol);  // CMSG_FIRSTHDR of a buffer that has room
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int) * fds.size());
    std::memcpy(CMSG_DATA(c), fds.data(), sizeof(int) * fds.size());
  }
  const ssize_t sent = ::sendmsg(p.qemu.get(), &out, MSG_NOSIGNAL);
  // Ours keep the files open for the append; qemu-xen has its own now.
  for (int fd : fds) p.passed.emplace_back(fd);
  if (sent < 0) {
    p.dead = true;
    return;
  }
  if (sent < n && !write_all(p.qemu.get(), buf + sent, static_cast<size_t>(n - sent))) p.dead = true;
}

// qemu-xen -> libxl, line by line; the success of a pending save waits for the vGPU state.
void from_qemu(Pair& p, const QmpSaveProxyOptions& o) {
  char buf[65536];
  const ssize_t n = ::read(p.qemu.get(), buf, sizeof buf);
  if (n <= 0) {
    p.dead = true;
    return;
  }
  p.qemu_lines.append(buf, static_cast<size_t>(n));
  size_t end = 0;
  while ((end = p.qemu_lines.find('\n')) != std::string::npos) {
    std::string line = p.qemu_lines.substr(0, end + 1);
    p.qemu_lines.erase(0, end + 1);
    if (p.save_id) {
      const auto j = nlohmann::json::parse(line, nullptr, false);
      if (j.is_object() && (j.contains("return") || j.contains("error")) &&
          j.value("id", nlohmann::json()) == *p.save_id) {
        if (j.contains("return")) {
          try {
            if (p.passed.empty()) throw Error("libxl passed no save file descriptor");
            o.on_devices_saved(p.passed.back().get());
            spdlog::info("qmp proxy: vGPU state appended to the device-model save file");
          } catch (const std::exception& e) {
            spdlog::error("qmp proxy: vGPU state not saved: {}", e.what());
            nlohmann::json err{
                {"error", {{"class", "GenericError"}, {"desc", std::string("xvgpu: ") + e.what()}}}};
            if (!p.save_id->is_null()) err["id"] = *p.save_id;
            line = err.dump() + "\r\n";
          }
        }
        p.save_id.reset();
      }
    }
    if (!write_all(p.client.get(), line.data(), line.size())) {
      p.dead = true;
      return;
    }
  }
  if (p.qemu_lines.size() > kMaxLine) {  // not QMP: pass it on as it is
    if (!write_all(p.client.get(), p.qemu_lines.data(), p.qemu_lines.size())) p.dead = true;
    p.qemu_lines.clear();
  }
}

// Alive and not a zombie (an orphaned qemu-xen that nobody reaped has ended all the same).
bool lives(pid_t pid) {
  if (pid <= 0) return true;
  if (::kill(pid, 0) != 0 && errno != EPERM) return false;
  std::ifstream f("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  std::getline(f, line);
  const auto paren = line.rfind(')');
  return paren == std::string::npos || paren + 2 >= line.size() || line[paren + 2] != 'Z';
}

}  // namespace

void run_qmp_save_proxy(const QmpSaveProxyOptions& o) {
  UniqueFd listener(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!listener) throw SystemError(errno, "socket");
  const auto a = address_of(o.listen_path);
  ::unlink(o.listen_path.c_str());
  if (::bind(listener.get(), reinterpret_cast<const sockaddr*>(&a), sizeof a) != 0) {
    throw SystemError(errno, "qmp proxy: binding " + o.listen_path);
  }
  ::chmod(o.listen_path.c_str(), 0600);
  if (::listen(listener.get(), 8) != 0) throw SystemError(errno, "qmp proxy: listen");
  spdlog::info("qmp proxy: {} -> {}, while pid {} lives", o.listen_path, o.qemu_path, o.watch_pid);
  std::list<Pair> pairs;
  while (lives(o.watch_pid)) {
    std::vector<pollfd> fds{{listener.get(), POLLIN, 0}};
    for (auto& p : pairs) {
      fds.push_back({p.client.get(), POLLIN, 0});
      fds.push_back({p.qemu.get(), POLLIN, 0});
    }
    const int r = ::poll(fds.data(), fds.size(), 1000);
    if (r < 0 && errno != EINTR) throw SystemError(errno, "qmp proxy: poll");
    if (r <= 0) continue;
    size_t i = 1;
    for (auto& p : pairs) {
      if ((fds[i].revents & (POLLIN | POLLHUP | POLLERR)) != 0) from_client(p);
      if (!p.dead && (fds[i + 1].revents & (POLLIN | POLLHUP | POLLERR)) != 0) from_qemu(p, o);
      i += 2;
    }
    pairs.remove_if([](const Pair& p) { return p.dead; });
    if ((fds[0].revents & POLLIN) != 0) {
      UniqueFd c(::accept4(listener.get(), nullptr, nullptr, SOCK_CLOEXEC));
      if (!c) continue;
      try {
        Pair p;
        p.qemu = connect_to(o.qemu_path);
        p.client = std::move(c);
        pairs.push_back(std::move(p));
      } catch (const std::exception& e) {
        spdlog::error("qmp proxy: {}", e.what());
      }
    }
  }
  ::unlink(o.listen_path.c_str());
  spdlog::info("qmp proxy: pid {} is gone; stopping", o.watch_pid);
}

}  // namespace xvgpu::ctl
