// --runas/--chroot (drop_privileges) and the serving resource limits, applied in forked
// children (none of it can be undone). Dropping to another user needs root: without it the
// tests skip, saying so.
#include <fcntl.h>
#include <grp.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <cerrno>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <string>

#include "dm/privileges.h"
#include "dm/resource_limits.h"

namespace xvgpu::dm {
namespace {

// Runs body in a child; its exit code (0 = every check held; otherwise the failed step).
int in_child(const std::function<int()>& body) {
  std::fflush(nullptr);
  const pid_t pid = ::fork();
  if (pid == 0) {
    int rc = 99;
    try {
      rc = body();
    } catch (const std::exception& e) {
      std::fprintf(stderr, "child: %s\n", e.what());
    }
    ::_exit(rc);
  }
  int st = 0;
  ::waitpid(pid, &st, 0);
  return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

// The value of "Key:" in a /proc status text.
std::string field(const std::string& status, const std::string& key) {
  const auto at = status.find("\n" + key + ":");
  if (at == std::string::npos) return "?";
  const auto start = status.find_first_not_of(" \t", at + key.size() + 2);
  return status.substr(start, status.find('\n', start) - start);
}

std::string read_fd(int fd) {
  std::string text;
  char buf[4096];
  ssize_t n;
  ::lseek(fd, 0, SEEK_SET);
  while ((n = ::read(fd, buf, sizeof buf)) > 0) text.append(buf, static_cast<size_t>(n));
  return text;
}

std::string read_path(const char* path) {
  const int fd = ::open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return "";
  std::string text = read_fd(fd);
  ::close(fd);
  return text;
}

RunAs nobody() {
  return RunAs{"nobody", 65534, 65534};
}

TEST(Privileges, RunasAndChrootLeaveNoWayBackToRoot) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root to change user (running as uid " << ::geteuid() << ")";
  const auto dir = std::filesystem::temp_directory_path() / ("xvgpu-chroot-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  std::ofstream(dir / "inside-the-chroot") << "x";
  const int rc = in_child([&] {
    // /proc is not inside the chroot: keep our status file open across it.
    const int status_fd = ::open("/proc/self/status", O_RDONLY | O_CLOEXEC);
    if (status_fd < 0) return 1;
    drop_privileges(dir.string(), nobody());
    uid_t r = 0, e = 0, s = 0;
    gid_t rg = 0, eg = 0, sg = 0;
    if (::getresuid(&r, &e, &s) != 0 || r != 65534 || e != 65534 || s != 65534) return 2;
    if (::getresgid(&rg, &eg, &sg) != 0 || rg != 65534 || eg != 65534 || sg != 65534) return 3;
    errno = 0;
    if (::setuid(0) != -1 || errno != EPERM) return 4;
    if (::setresuid(0, 0, 0) != -1 || errno != EPERM) return 5;
    if (::seteuid(0) != -1) return 6;
    if (::setgid(0) != -1 || ::setresgid(0, 0, 0) != -1) return 7;
    const gid_t root_group = 0;
    if (::setgroups(1, &root_group) != -1) return 8;
    const std::string st = read_fd(status_fd);
    if (field(st, "CapInh") != "0000000000000000" || field(st, "CapPrm") != "0000000000000000" ||
        field(st, "CapEff") != "0000000000000000" || field(st, "CapBnd") != "0000000000000000" ||
        field(st, "CapAmb") != "0000000000000000") {
      std::fprintf(stderr, "%s", st.c_str());
      return 9;
    }
    if (field(st, "NoNewPrivs") != "1") return 10;
    if ((" " + field(st, "Groups") + " ").find(" 0 ") != std::string::npos) return 11;  // no root group
    // Inside the chroot: its files, not the host's.
    if (::access("/inside-the-chroot", F_OK) != 0) return 12;
    if (::access("/etc/passwd", F_OK) == 0) return 13;
    char cwd[256];
    if (::getcwd(cwd, sizeof cwd) == nullptr || std::string(cwd) != "/") return 14;
    return 0;
  });
  std::filesystem::remove_all(dir);
  EXPECT_EQ(rc, 0) << "failed step " << rc;
}

TEST(Privileges, RunasWithoutChrootAlsoDropsEverything) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root to change user (running as uid " << ::geteuid() << ")";
  const int rc = in_child([] {
    drop_privileges(std::nullopt, nobody());
    const std::string st = read_path("/proc/self/status");
    if (field(st, "Uid") != "65534\t65534\t65534\t65534") return 1;
    if (field(st, "CapEff") != "0000000000000000" || field(st, "CapBnd") != "0000000000000000") return 2;
    if (::setuid(0) != -1) return 3;
    // The root-owned files stay out of reach.
    if (::open("/etc/shadow", O_RDONLY) >= 0) return 4;
    return 0;
  });
  EXPECT_EQ(rc, 0) << "failed step " << rc;
}

TEST(Privileges, NoNewPrivsEvenWithoutRunas) {
  const int rc = in_child([] {
    drop_privileges(std::nullopt, std::nullopt);
    const std::string st = read_path("/proc/self/status");
    return field(st, "NoNewPrivs") == "1" ? 0 : 1;
  });
  EXPECT_EQ(rc, 0);
}

TEST(ResourceLimits, ChosenValues) {
  const auto limits = serving_resource_limits(10);
  ASSERT_EQ(limits.size(), 4u);
  auto value = [&](int r) {
    for (const auto& l : limits) {
      if (l.resource == r) return l.value;
    }
    return rlim_t{12345};
  };
  EXPECT_EQ(value(RLIMIT_CORE), 0u);
  EXPECT_EQ(value(RLIMIT_NOFILE), 1024u);
  EXPECT_EQ(value(RLIMIT_MSGQUEUE), 0u);
  EXPECT_EQ(value(RLIMIT_RTPRIO), 0u);
  // A process already holding many descriptors keeps room for serving.
  for (const auto& l : serving_resource_limits(2000)) {
    if (l.resource == RLIMIT_NOFILE) {
      EXPECT_EQ(l.value, 2512u);
    }
  }
}

TEST(ResourceLimits, AppliedAsHardLimitsThatCannotBeRaised) {
  const int rc = in_child([] {
    apply_serving_resource_limits();
    rlimit l{};
    if (::getrlimit(RLIMIT_CORE, &l) != 0 || l.rlim_cur != 0 || l.rlim_max != 0) return 1;
    if (::getrlimit(RLIMIT_NOFILE, &l) != 0 || l.rlim_cur != l.rlim_max || l.rlim_max > 1024 + 512) return 2;
    // Raising a hard limit needs CAP_SYS_RESOURCE: as root it could, so only check unprivileged.
    if (::geteuid() != 0) {
      const rlimit more{4096, 4096};
      if (::setrlimit(RLIMIT_NOFILE, &more) == 0) return 3;
    }
    const std::string text = read_path("/proc/self/limits");
    if (text.find("Max core file size        0                    0") == std::string::npos) return 4;
    return 0;
  });
  EXPECT_EQ(rc, 0) << "failed step " << rc;
}

}  // namespace
}  // namespace xvgpu::dm
