// A child process for the tests that run programs of their own (xensimd, xvgpu-dm, echo
// servers, CLIs): the one place that forks and execs, sets up the environment and where the
// output goes, and always kills and reaps (no zombie, no fd left open on either side).
#pragma once

#include <sys/types.h>

#include <chrono>
#include <iosfwd>
#include <optional>
#include <string>
#include <vector>

#include "common/unique_fd.h"

namespace xvgpu::test {

// Where one of the child's output streams goes.
class Output {
 public:
  enum class Kind { inherit, null, file, pipe, to_stdout };

  static Output inherit() { return Output(Kind::inherit); }  // the test's own stream
  static Output null() { return Output(Kind::null); }        // /dev/null
  // A file, created 0644; truncated, or appended to.
  static Output file(std::string path, bool append = false) {
    Output o(Kind::file);
    o.path_ = std::move(path);
    o.append_ = append;
    return o;
  }
  static Output pipe() { return Output(Kind::pipe); }            // stdout only: ChildProcess::read_line
  static Output to_stdout() { return Output(Kind::to_stdout); }  // stderr only: where stdout goes

  [[nodiscard]] Kind kind() const { return kind_; }
  [[nodiscard]] const std::string& path() const { return path_; }
  [[nodiscard]] bool append() const { return append_; }

 private:
  explicit Output(Kind k) : kind_(k) {}
  Kind kind_;
  std::string path_;
  bool append_ = false;
};

struct ChildOptions {
  // Extra "NAME=value" entries; each replaces the test's own entry of that name, if any.
  std::vector<std::string> env;
  Output out = Output::inherit();
  Output err = Output::inherit();
  // SIGKILL the child when the thread that started it ends (PR_SET_PDEATHSIG), so a test that
  // crashes or is killed leaves no daemon behind. Note: the starting THREAD, not the process.
  bool kill_with_parent = false;
};

// How a child ended: an exit code, or the signal that killed it.
struct ExitStatus {
  int code = 0;    // when signal == 0
  int signal = 0;  // the terminating signal; 0 when it exited

  static ExitStatus exited(int c) { return {c, 0}; }
  static ExitStatus killed_by(int s) { return {0, s}; }
  // As a shell's $? shows it: the exit code, or 128 + signal.
  [[nodiscard]] int shell_code() const { return signal == 0 ? code : 128 + signal; }
  // "exit status 3", "killed by signal 9 (Killed)".
  [[nodiscard]] std::string describe() const;
  bool operator==(const ExitStatus&) const = default;
};
std::ostream& operator<<(std::ostream& os, const ExitStatus& s);  // describe(), for test output

class ChildProcess {
 public:
  // Starts argv[0] (a path; PATH is not searched) with argv. Throws xvgpu::SystemError naming
  // the program and the step that failed: the output file, the exec itself (reported back
  // from the child, e.g. "cannot execute /x/y: No such file or directory"), ...
  explicit ChildProcess(const std::vector<std::string>& argv, const ChildOptions& options = {});
  // SIGKILLs the child if it still runs, and reaps it.
  ~ChildProcess();
  ChildProcess(ChildProcess&& o) noexcept;
  ChildProcess& operator=(ChildProcess&& o) noexcept;
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;

  [[nodiscard]] pid_t pid() const { return pid_; }
  [[nodiscard]] const std::string& program() const { return program_; }

  // Sends sig. Throws if the child was already reaped (its pid may belong to another process).
  void signal(int sig) const;
  // The exit status if it has ended (reaping it), nullopt while it runs.
  std::optional<ExitStatus> try_wait();
  [[nodiscard]] bool running() { return !try_wait().has_value(); }
  ExitStatus wait();
  // nullopt if it still runs after `limit`.
  std::optional<ExitStatus> wait_for(std::chrono::milliseconds limit);
  // SIGTERM, then waits up to `limit`; if it still runs then: SIGKILL, reaped, nullopt.
  std::optional<ExitStatus> terminate(std::chrono::milliseconds limit);

  // With ChildOptions::out = Output::pipe(): the next line of its stdout without the newline
  // (a last line without one at EOF too), or "" on EOF or after `limit`.
  std::string read_line(std::chrono::milliseconds limit = std::chrono::seconds(5));
  // Everything it writes to stdout until EOF, or until `limit` has passed.
  std::string read_all(std::chrono::milliseconds limit = std::chrono::seconds(5));

 private:
  enum class Fill { data, eof, timeout };

  void release() noexcept;
  // Appends what the child wrote to stdout to buf_, waiting until `deadline` at most.
  Fill fill(std::chrono::steady_clock::time_point deadline);

  std::string program_;
  pid_t pid_ = -1;
  std::optional<ExitStatus> status_;  // once reaped
  UniqueFd out_;                      // read end of the stdout pipe
  std::string buf_;
};

}  // namespace xvgpu::test
