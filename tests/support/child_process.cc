#include "support/child_process.h"

#include <fcntl.h>
#include <linux/close_range.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstring>
#include <ostream>
#include <thread>
#include <utility>

#include "common/error.h"

extern char** environ;

namespace xvgpu::test {

namespace {

using Clock = std::chrono::steady_clock;

// What the child failed at between fork and exec; sent back through a close-on-exec pipe, so
// the parent reads either this or EOF (the exec succeeded).
enum class Step : int { pdeathsig, open_stdout, open_stderr, redirect, close_fds, exec };
struct Failure {
  Step step;
  int err;
};

std::string step_text(Step s, const std::string& program, const ChildOptions& o) {
  switch (s) {
    case Step::pdeathsig:
      return "starting " + program + ": prctl(PR_SET_PDEATHSIG)";
    case Step::open_stdout:
      return "starting " + program + ": cannot open its stdout file " + o.out.path();
    case Step::open_stderr:
      return "starting " + program + ": cannot open its stderr file " + o.err.path();
    case Step::redirect:
      return "starting " + program + ": dup2 of its output";
    case Step::close_fds:
      return "starting " + program + ": marking inherited fds close-on-exec";
    case Step::exec:
      return "cannot execute " + program;
  }
  return "starting " + program;
}

// Everything the child needs, prepared before fork: between fork and exec the child may only
// make async-signal-safe calls (no allocation: another thread of the test may hold malloc's lock).
struct Plan {
  std::vector<char*> argv;
  std::vector<std::string> env;
  std::vector<char*> envp;
  const ChildOptions* options = nullptr;
  pid_t parent = -1;
  int pipe_write = -1;  // stdout pipe's write end (Output::pipe)
  int report = -1;      // where a Failure goes
  int max_fd = 0;       // for the close-on-exec fallback without close_range
};

[[noreturn]] void fail(const Plan& p, Step s) {
  const Failure f{s, errno};
  [[maybe_unused]] const ssize_t n = ::write(p.report, &f, sizeof f);
  ::_exit(127);
}

// Makes fd the child's descriptor `target`, kept open across exec.
bool place(int fd, int target) {
  if (fd == target) return ::fcntl(fd, F_SETFD, 0) == 0;
  return ::dup2(fd, target) == target;
}

int open_output(const Output& o) {
  if (o.kind() == Output::Kind::null) return ::open("/dev/null", O_WRONLY | O_CLOEXEC);
  const int mode = o.append() ? O_APPEND : O_TRUNC;
  return ::open(o.path().c_str(), O_WRONLY | O_CREAT | O_CLOEXEC | mode, 0644);
}

void redirect(const Plan& p, const Output& o, int target, Step open_step) {
  switch (o.kind()) {
    case Output::Kind::inherit:
      return;
    case Output::Kind::null:
    case Output::Kind::file: {
      const int fd = open_output(o);
      if (fd < 0) fail(p, open_step);
      if (!place(fd, target)) fail(p, Step::redirect);
      if (fd != target) ::close(fd);
      return;
    }
    case Output::Kind::pipe:
      if (!place(p.pipe_write, target)) fail(p, Step::redirect);
      return;
    case Output::Kind::to_stdout:
      if (!place(1, target)) fail(p, Step::redirect);
      return;
  }
}

[[noreturn]] void run_child(const Plan& p) {
  if (p.options->kill_with_parent) {
    if (::prctl(PR_SET_PDEATHSIG, SIGKILL) != 0) fail(p, Step::pdeathsig);
    if (::getppid() != p.parent) ::_exit(127);  // the parent is already gone
  }
  // A clean slate as a service manager gives: no blocked signals, none ignored (an ignored
  // signal, such as a test's SIG_IGN for SIGPIPE, would survive exec).
  sigset_t none;
  ::sigemptyset(&none);
  ::sigprocmask(SIG_SETMASK, &none, nullptr);
  struct sigaction dfl {};
  dfl.sa_handler = SIG_DFL;
  for (int sig = 1; sig < NSIG; ++sig) ::sigaction(sig, &dfl, nullptr);  // SIGKILL/SIGSTOP: EINVAL

  redirect(p, p.options->out, 1, Step::open_stdout);
  redirect(p, p.options->err, 2, Step::open_stderr);
  // Nothing of the test's but stdio (and the failure report, closed by exec itself).
  if (::close_range(3, ~0U, CLOSE_RANGE_CLOEXEC) != 0) {
    for (int fd = 3; fd <= p.max_fd; ++fd) {
      if (::fcntl(fd, F_SETFD, FD_CLOEXEC) != 0 && errno != EBADF) fail(p, Step::close_fds);
    }
  }
  ::execve(p.argv[0], p.argv.data(), p.envp.data());
  fail(p, Step::exec);
}

std::string env_name(const std::string& entry) {
  return entry.substr(0, entry.find('='));
}

// The test's environment with the extra entries replacing those of the same name.
std::vector<std::string> child_environment(const std::vector<std::string>& extra) {
  std::vector<std::string> names;
  for (const auto& e : extra) {
    const auto eq = e.find('=');
    if (eq == std::string::npos || eq == 0)
      throw Error("child environment entry '" + e + "' is not NAME=value");
    names.push_back(env_name(e));
  }
  std::vector<std::string> env;
  for (char** e = environ; e != nullptr && *e != nullptr; ++e) {
    const std::string entry(*e);
    if (std::find(names.begin(), names.end(), env_name(entry)) == names.end()) env.push_back(entry);
  }
  env.insert(env.end(), extra.begin(), extra.end());
  return env;
}

void check_options(const ChildOptions& o) {
  if (o.out.kind() == Output::Kind::to_stdout) throw Error("child stdout cannot be Output::to_stdout()");
  if (o.err.kind() == Output::Kind::pipe) throw Error("child stderr cannot be Output::pipe() (stdout only)");
  for (const Output* out : {&o.out, &o.err}) {
    if (out->kind() == Output::Kind::file && out->path().empty())
      throw Error("child output file: empty path");
  }
}

ExitStatus decode(int st) {
  return WIFSIGNALED(st) ? ExitStatus::killed_by(WTERMSIG(st)) : ExitStatus::exited(WEXITSTATUS(st));
}

}  // namespace

std::string ExitStatus::describe() const {
  if (signal == 0) return "exit status " + std::to_string(code);
  const char* name = ::strsignal(signal);
  return "killed by signal " + std::to_string(signal) + " (" + (name != nullptr ? name : "?") + ")";
}

std::ostream& operator<<(std::ostream& os, const ExitStatus& s) {
  return os << s.describe();
}

ChildProcess::ChildProcess(const std::vector<std::string>& argv, const ChildOptions& options) {
  if (argv.empty() || argv[0].empty()) throw Error("child process: empty argv");
  program_ = argv.front();
  check_options(options);

  Plan plan;
  std::vector<std::string> args = argv;
  for (auto& a : args) plan.argv.push_back(a.data());
  plan.argv.push_back(nullptr);
  plan.env = child_environment(options.env);
  for (auto& e : plan.env) plan.envp.push_back(e.data());
  plan.envp.push_back(nullptr);
  plan.options = &options;
  plan.parent = ::getpid();
  const long open_max = ::sysconf(_SC_OPEN_MAX);
  plan.max_fd = static_cast<int>(std::clamp<long>(open_max, 1024, 1 << 20));

  // Every fd the parent makes here is close-on-exec: another thread starting a child at the
  // same time must not inherit it (a stray pipe write end would hide this child's EOF).
  UniqueFd out_write;
  if (options.out.kind() == Output::Kind::pipe) {
    int p[2];
    check_errno(::pipe2(p, O_CLOEXEC), "starting " + program_ + ": pipe for its stdout");
    out_ = UniqueFd(p[0]);
    out_write = UniqueFd(p[1]);
    plan.pipe_write = p[1];
  }
  int r[2];
  check_errno(::pipe2(r, O_CLOEXEC), "starting " + program_ + ": pipe for its exec status");
  UniqueFd report_read(r[0]);
  UniqueFd report_write(r[1]);
  plan.report = r[1];

  pid_ = ::fork();
  if (pid_ == 0) run_child(plan);
  check_errno(pid_, "starting " + program_ + ": fork");
  out_write.reset();
  report_write.reset();

  Failure f{};
  ssize_t n;
  do {
    n = ::read(report_read.get(), &f, sizeof f);
  } while (n < 0 && errno == EINTR);
  if (n == 0) return;  // EOF: the exec happened
  // The child failed before running the program (it exits 127): reap it, say what went wrong.
  (void)wait();
  const int err = n == static_cast<ssize_t>(sizeof f) ? f.err : EIO;
  const std::string what = n == static_cast<ssize_t>(sizeof f)
                               ? step_text(f.step, program_, options)
                               : "starting " + program_ + ": short read of its exec status";
  release();
  throw SystemError(err != 0 ? err : EIO, what);
}

ChildProcess::~ChildProcess() {
  release();
}

ChildProcess::ChildProcess(ChildProcess&& o) noexcept
    : program_(std::move(o.program_)),
      pid_(std::exchange(o.pid_, -1)),
      status_(std::exchange(o.status_, std::nullopt)),
      out_(std::move(o.out_)),
      buf_(std::move(o.buf_)) {}

ChildProcess& ChildProcess::operator=(ChildProcess&& o) noexcept {
  if (this != &o) {
    release();
    program_ = std::move(o.program_);
    pid_ = std::exchange(o.pid_, -1);
    status_ = std::exchange(o.status_, std::nullopt);
    out_ = std::move(o.out_);
    buf_ = std::move(o.buf_);
  }
  return *this;
}

void ChildProcess::release() noexcept {
  if (pid_ > 0 && !status_) {
    ::kill(pid_, SIGKILL);
    int st = 0;
    pid_t r;
    do {
      r = ::waitpid(pid_, &st, 0);
    } while (r < 0 && errno == EINTR);
    if (r == pid_) status_ = decode(st);
  }
  out_.reset();
}

void ChildProcess::signal(int sig) const {
  if (pid_ <= 0) throw Error("signal " + std::to_string(sig) + ": no child process");
  if (status_) {
    throw Error("signal " + std::to_string(sig) + " to " + program_ + " (pid " + std::to_string(pid_) +
                "): it has ended already (" + status_->describe() + ")");
  }
  check_errno(::kill(pid_, sig),
              "signal " + std::to_string(sig) + " to " + program_ + " (pid " + std::to_string(pid_) + ")");
}

std::optional<ExitStatus> ChildProcess::try_wait() {
  if (status_ || pid_ <= 0) return status_;
  int st = 0;
  pid_t r;
  do {
    r = ::waitpid(pid_, &st, WNOHANG);
  } while (r < 0 && errno == EINTR);
  check_errno(r, "waiting for " + program_ + " (pid " + std::to_string(pid_) + ")");
  if (r == pid_) status_ = decode(st);
  return status_;
}

ExitStatus ChildProcess::wait() {
  if (status_) return *status_;
  if (pid_ <= 0) throw Error("wait: no child process");
  int st = 0;
  pid_t r;
  do {
    r = ::waitpid(pid_, &st, 0);
  } while (r < 0 && errno == EINTR);
  check_errno(r, "waiting for " + program_ + " (pid " + std::to_string(pid_) + ")");
  status_ = decode(st);
  return *status_;
}

std::optional<ExitStatus> ChildProcess::wait_for(std::chrono::milliseconds limit) {
  const auto deadline = Clock::now() + limit;
  auto nap = std::chrono::milliseconds(1);
  for (;;) {
    if (auto st = try_wait()) return st;
    const auto now = Clock::now();
    if (now >= deadline) return std::nullopt;
    std::this_thread::sleep_for(std::min<Clock::duration>(nap, deadline - now));
    nap = std::min(nap * 2, std::chrono::milliseconds(10));
  }
}

std::optional<ExitStatus> ChildProcess::terminate(std::chrono::milliseconds limit) {
  if (auto st = try_wait()) return st;
  signal(SIGTERM);
  if (auto st = wait_for(limit)) return st;
  release();  // SIGKILL and reap
  return std::nullopt;
}

ChildProcess::Fill ChildProcess::fill(Clock::time_point deadline) {
  if (!out_) throw Error("reading the output of " + program_ + ": its stdout is not Output::pipe()");
  for (;;) {
    const auto left = std::chrono::ceil<std::chrono::milliseconds>(deadline - Clock::now());
    if (left.count() <= 0) return Fill::timeout;
    pollfd pfd{out_.get(), POLLIN, 0};
    const int ready = ::poll(&pfd, 1, static_cast<int>(std::min<int64_t>(left.count(), INT_MAX)));
    if (ready < 0 && errno == EINTR) continue;
    check_errno(ready, "reading the output of " + program_);
    if (ready == 0) return Fill::timeout;
    char tmp[4096];
    const ssize_t n = ::read(out_.get(), tmp, sizeof tmp);
    if (n < 0 && errno == EINTR) continue;
    check_errno(n, "reading the output of " + program_);
    if (n == 0) return Fill::eof;
    buf_.append(tmp, static_cast<size_t>(n));
    return Fill::data;
  }
}

std::string ChildProcess::read_line(std::chrono::milliseconds limit) {
  const auto deadline = Clock::now() + limit;
  for (;;) {
    if (const auto nl = buf_.find('\n'); nl != std::string::npos) {
      std::string line = buf_.substr(0, nl);
      buf_.erase(0, nl + 1);
      return line;
    }
    switch (fill(deadline)) {
      case Fill::data:
        continue;
      case Fill::eof:  // a last line without its newline is still a line
        return std::exchange(buf_, {});
      case Fill::timeout:  // a partial line stays for the next call
        return "";
    }
  }
}

std::string ChildProcess::read_all(std::chrono::milliseconds limit) {
  const auto deadline = Clock::now() + limit;
  while (fill(deadline) == Fill::data) {
  }
  return std::exchange(buf_, {});
}

}  // namespace xvgpu::test
