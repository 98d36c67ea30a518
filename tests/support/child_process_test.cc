// The tests' child-process helper: exit status and signals, waiting with a timeout, the
// environment, where output goes, no fd of the test leaking into the child, and no child
// (running or zombie) left behind by any path, failures included.
#include "support/child_process.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>
#include <thread>

#include <gtest/gtest.h>

#include "common/error.h"

namespace xvgpu::test {
namespace {

using namespace std::chrono_literals;
namespace fs = std::filesystem;

ChildProcess probe(const std::vector<std::string>& args, const ChildOptions& o = {}) {
  std::vector<std::string> argv{CHILD_PROCESS_PROBE};
  argv.insert(argv.end(), args.begin(), args.end());
  return ChildProcess(argv, o);
}
ChildOptions piped(std::vector<std::string> env = {}) {
  ChildOptions o;
  o.out = Output::pipe();
  o.env = std::move(env);
  return o;
}

// No child at all, neither running nor a zombie: waitpid(-1) has nothing to wait for.
bool no_children() {
  return ::waitpid(-1, nullptr, WNOHANG) == -1 && errno == ECHILD;
}
bool pid_gone(pid_t pid) {
  return ::kill(pid, 0) == -1 && errno == ESRCH;
}

std::string slurp(const fs::path& p) {
  std::ifstream f(p);
  std::stringstream s;
  s << f.rdbuf();
  return s.str();
}

TEST(ChildProcess, ExitStatus) {
  auto c = probe({"exit", "3"});
  const ExitStatus st = c.wait();
  EXPECT_EQ(st, ExitStatus::exited(3));
  EXPECT_EQ(st.shell_code(), 3);
  EXPECT_EQ(st.describe(), "exit status 3");
  EXPECT_EQ(c.wait(), st) << "the status is kept once reaped";
  EXPECT_FALSE(c.running());
  EXPECT_TRUE(no_children());
}

TEST(ChildProcess, KilledBySignal) {
  auto self = probe({"raise", std::to_string(SIGUSR1)});
  EXPECT_EQ(self.wait(), ExitStatus::killed_by(SIGUSR1));

  auto c = probe({"sleep", "10000"});
  EXPECT_TRUE(c.running());
  c.signal(SIGKILL);
  const ExitStatus st = c.wait();
  EXPECT_EQ(st, ExitStatus::killed_by(SIGKILL));
  EXPECT_EQ(st.shell_code(), 128 + SIGKILL);
  EXPECT_NE(st.describe().find("killed by signal 9"), std::string::npos) << st.describe();
  // Its pid may belong to another process by now: no signal goes there.
  EXPECT_THROW(c.signal(SIGTERM), Error);
}

TEST(ChildProcess, WaitForTimesOutWhileItRuns) {
  auto c = probe({"sleep", "10000"});
  const auto t0 = std::chrono::steady_clock::now();
  EXPECT_EQ(c.wait_for(100ms), std::nullopt);
  EXPECT_GE(std::chrono::steady_clock::now() - t0, 100ms);
  EXPECT_TRUE(c.running());

  auto quick = probe({"sleep", "20"});
  EXPECT_EQ(quick.wait_for(10s), ExitStatus::exited(0));
}

TEST(ChildProcess, TerminateEscalatesToSigkill) {
  auto polite = probe({"sleep", "10000"});
  EXPECT_EQ(polite.terminate(5s), ExitStatus::killed_by(SIGTERM));

  auto stubborn = probe({"ignore-term"}, piped());
  ASSERT_EQ(stubborn.read_line(), "ready");
  const pid_t pid = stubborn.pid();
  EXPECT_EQ(stubborn.terminate(100ms), std::nullopt) << "it ignores SIGTERM";
  EXPECT_TRUE(pid_gone(pid)) << "killed and reaped after the limit";
  EXPECT_TRUE(no_children());
}

TEST(ChildProcess, DestructorKillsAndReaps) {
  pid_t pid = -1;
  {
    auto c = probe({"sleep", "10000"});
    pid = c.pid();
    EXPECT_TRUE(c.running());
  }
  EXPECT_TRUE(pid_gone(pid));
  EXPECT_TRUE(no_children());

  // Moved: the moved-to object owns it, the moved-from one does nothing.
  std::optional<ChildProcess> outer;
  {
    auto c = probe({"sleep", "10000"});
    pid = c.pid();
    outer.emplace(std::move(c));
  }
  EXPECT_TRUE(outer->running());
  outer.reset();
  EXPECT_TRUE(pid_gone(pid));
}

TEST(ChildProcess, EnvironmentExtraEntriesAndOverrides) {
  ASSERT_EQ(::setenv("XVGPU_CP_INHERITED", "from-test", 1), 0);
  ASSERT_EQ(::setenv("XVGPU_CP_REPLACED", "old", 1), 0);
  ::unsetenv("XVGPU_CP_UNSET");
  auto c = probe({"env", "XVGPU_CP_INHERITED", "XVGPU_CP_REPLACED", "XVGPU_CP_EXTRA", "XVGPU_CP_UNSET"},
                 piped({"XVGPU_CP_REPLACED=new", "XVGPU_CP_EXTRA=a=b c"}));
  EXPECT_EQ(
      c.read_all(),
      "XVGPU_CP_INHERITED=from-test\nXVGPU_CP_REPLACED=new\nXVGPU_CP_EXTRA=a=b c\nXVGPU_CP_UNSET unset\n");
  EXPECT_EQ(c.wait(), ExitStatus::exited(0));
  EXPECT_STREQ(std::getenv("XVGPU_CP_REPLACED"), "old") << "the test's own environment is untouched";
  ::unsetenv("XVGPU_CP_INHERITED");
  ::unsetenv("XVGPU_CP_REPLACED");

  try {
    probe({"exit", "0"}, piped({"NOEQUALSIGN"}));
    FAIL() << "an entry without '=' was accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("'NOEQUALSIGN' is not NAME=value"), std::string::npos) << e.what();
  }
  EXPECT_TRUE(no_children());
}

TEST(ChildProcess, OnlyStdioReachesTheChild) {
  // Descriptors of the test without close-on-exec, as a library might leave them.
  const int leaky = ::open("/dev/null", O_RDONLY);
  ASSERT_GE(leaky, 3);
  int p[2];
  ASSERT_EQ(::pipe(p), 0);
  auto c = probe({"fds"}, piped());
  EXPECT_EQ(c.read_all(), "0\n1\n2\n");
  EXPECT_EQ(c.wait(), ExitStatus::exited(0));
  ::close(leaky);
  ::close(p[0]);
  ::close(p[1]);
}

TEST(ChildProcess, NoIgnoredSignalsOrBlockedMaskInherited) {
  auto* const before = ::signal(SIGPIPE, SIG_IGN);  // as the load test does for itself
  auto c = probe({"sigpipe"}, piped());
  EXPECT_EQ(c.read_line(), "SIGPIPE default");
  (void)::signal(SIGPIPE, before);
}

TEST(ChildProcess, OutputToFileAppendNullAndPipe) {
  const fs::path log =
      fs::temp_directory_path() / ("xvgpu-child-test-" + std::to_string(::getpid()) + ".log");
  {
    ChildOptions o;
    o.out = Output::file(log.string());
    o.err = Output::to_stdout();
    EXPECT_EQ(probe({"say", "one", "two"}, o).wait(), ExitStatus::exited(0));
  }
  EXPECT_EQ(slurp(log), "one\ntwo\n");
  {
    ChildOptions o;
    o.err = Output::file(log.string(), /*append=*/true);
    o.out = Output::null();
    EXPECT_EQ(probe({"say", "dropped", "three"}, o).wait(), ExitStatus::exited(0));
  }
  EXPECT_EQ(slurp(log), "one\ntwo\nthree\n");
  {
    ChildOptions o;
    o.out = Output::file(log.string());  // truncates
    EXPECT_EQ(probe({"exit", "0"}, o).wait(), ExitStatus::exited(0));
  }
  EXPECT_EQ(slurp(log), "");
  fs::remove(log);
  {
    ChildOptions o;
    o.out = Output::null();
    auto c = probe({"sleep", "10000"}, o);
    EXPECT_EQ(fs::read_symlink("/proc/" + std::to_string(c.pid()) + "/fd/1"), "/dev/null");
  }
  auto c = probe({"say", "first", "ignored"}, [] {
    ChildOptions o = piped();
    o.err = Output::null();
    return o;
  }());
  EXPECT_EQ(c.read_line(), "first");
  EXPECT_EQ(c.read_line(), "") << "EOF";
}

TEST(ChildProcess, ReadLineTimeoutKeepsPartialLine) {
  auto c = probe({"sleep", "10000"}, piped());
  const auto t0 = std::chrono::steady_clock::now();
  EXPECT_EQ(c.read_line(50ms), "");
  EXPECT_GE(std::chrono::steady_clock::now() - t0, 50ms);
  EXPECT_THROW(probe({"exit", "0"}).read_line(), Error) << "stdout is not a pipe";
}

// start() must fail with errno `err` and a message containing `says`, leaving no child behind.
template <typename Start>
void expect_start_failure(Start start, int err, const std::string& says) {
  try {
    start();
    ADD_FAILURE() << "started, though it should fail with: " << says;
  } catch (const SystemError& e) {
    EXPECT_EQ(e.err(), err) << e.what();
    EXPECT_NE(std::string(e.what()).find(says), std::string::npos) << e.what();
  }
  EXPECT_TRUE(no_children());
}

TEST(ChildProcess, FailuresSayWhatWentWrongAndLeaveNoChild) {
  expect_start_failure(
      [] {
        ChildProcess c({"/nonexistent/xvgpu-program", "arg"});
      },
      ENOENT, "cannot execute /nonexistent/xvgpu-program");
  expect_start_failure(
      [] {
        ChildOptions o;
        o.err = Output::file("/nonexistent-dir/err.log");
        probe({"exit", "0"}, o);
      },
      ENOENT, "stderr file /nonexistent-dir/err.log");

  ChildOptions bad;
  bad.err = Output::pipe();
  EXPECT_THROW(probe({"exit", "0"}, bad), Error);
  EXPECT_THROW(ChildProcess(std::vector<std::string>{}), Error);
}

// PR_SET_PDEATHSIG follows the thread that started the child: when it ends, so does the child.
TEST(ChildProcess, KillWithParent) {
  std::optional<ChildProcess> bound;
  std::optional<ChildProcess> unbound;
  std::thread([&] {
    ChildOptions o;
    o.kill_with_parent = true;
    bound.emplace(probe({"sleep", "10000"}, o));
    unbound.emplace(probe({"sleep", "10000"}));
  }).join();
  EXPECT_EQ(bound->wait_for(5s), ExitStatus::killed_by(SIGKILL));
  EXPECT_EQ(unbound->wait_for(100ms), std::nullopt) << "without the option the child outlives the thread";
}

}  // namespace
}  // namespace xvgpu::test
