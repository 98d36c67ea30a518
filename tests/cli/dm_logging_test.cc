// xvgpu-dm's log: syslog priorities on stderr when stderr is the journal's stream, and a log file kept within
// its bound in place (first and latest lines kept, whole lines, appending writers undisturbed).
#include "dm/dm_logging.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <spdlog/spdlog.h>

#include "common/unique_fd.h"
#include "support/temp_dir.h"

namespace xvgpu::dm {
namespace {

namespace fs = std::filesystem;

class DmLoggingTest : public ::testing::Test {
 protected:
  void TearDown() override {
    ::unsetenv("JOURNAL_STREAM");
    spdlog::drop_all();
  }
  static std::string stream_id(int fd) {
    struct stat st {};
    EXPECT_EQ(::fstat(fd, &st), 0);
    return std::to_string(st.st_dev) + ":" + std::to_string(st.st_ino);
  }
  static std::vector<std::string> lines_of(const fs::path& p) {
    std::ifstream in(p);
    std::vector<std::string> out;
    for (std::string l; std::getline(in, l);) out.push_back(l);
    return out;
  }
  // Logs an error, a warning and an info line through setup_logging with stderr on `file`.
  std::vector<std::string> log_three_to_stderr(const fs::path& file) {
    const UniqueFd saved(::dup(STDERR_FILENO));
    {
      const UniqueFd f(::open(file.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600));
      EXPECT_TRUE(f.valid());
      ::dup2(f.get(), STDERR_FILENO);
    }
    setup_logging("info", std::nullopt, false, 7, 1 << 20);
    spdlog::error("the control socket is gone");
    spdlog::warn("a slow client");
    spdlog::info("serving");
    spdlog::debug("not logged at info");
    spdlog::default_logger()->flush();
    ::dup2(saved.get(), STDERR_FILENO);
    return lines_of(file);
  }
  TempDir tmp_{"xvgpu-dmlog-"};
  fs::path dir_ = tmp_.path();
};

TEST_F(DmLoggingTest, JournalStreamIsRecognisedByDeviceAndInode) {
  const UniqueFd a(::open((dir_ / "a").c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0600));
  const UniqueFd b(::open((dir_ / "b").c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0600));
  EXPECT_TRUE(is_journal_stream(a.get(), stream_id(a.get()).c_str()));
  EXPECT_FALSE(
      is_journal_stream(a.get(), stream_id(b.get()).c_str()));  // inherited, but stderr went elsewhere
  EXPECT_FALSE(is_journal_stream(a.get(), nullptr));
  EXPECT_FALSE(is_journal_stream(a.get(), (stream_id(a.get()) + "x").c_str()));
  EXPECT_FALSE(is_journal_stream(a.get(), "journal"));
}

TEST_F(DmLoggingTest, LinesCarryTheirSyslogPriorityWhenStderrIsTheJournal) {
  const fs::path file = dir_ / "journal";
  const UniqueFd f(::open(file.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0600));
  ::setenv("JOURNAL_STREAM", stream_id(f.get()).c_str(), 1);
  const auto lines = log_three_to_stderr(file);
  ASSERT_EQ(lines.size(), 3u);
  // sd-daemon(3) prefixes: journalctl -p err finds the first line; the journal adds time and pid itself.
  EXPECT_EQ(lines[0], "<3>dom7 error: the control socket is gone");
  EXPECT_EQ(lines[1], "<4>dom7 warning: a slow client");
  EXPECT_EQ(lines[2], "<6>dom7 info: serving");
}

TEST_F(DmLoggingTest, NoPriorityPrefixWhenStderrIsNotTheJournal) {
  const UniqueFd other(::open((dir_ / "other").c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0600));
  ::setenv("JOURNAL_STREAM", stream_id(other.get()).c_str(), 1);
  const auto lines = log_three_to_stderr(dir_ / "file");
  ASSERT_EQ(lines.size(), 3u);
  for (const auto& l : lines) {
    EXPECT_NE(l.front(), '<') << l;
    EXPECT_NE(l.find("xvgpu-dm["), std::string::npos) << l;  // time and pid of its own
  }
  EXPECT_NE(lines[0].find("dom7 error: the control socket is gone"), std::string::npos);
}

TEST_F(DmLoggingTest, PrioritiesFollowSyslog) {
  EXPECT_EQ(syslog_priority(spdlog::level::critical), 2);
  EXPECT_EQ(syslog_priority(spdlog::level::err), 3);
  EXPECT_EQ(syslog_priority(spdlog::level::warn), 4);
  EXPECT_EQ(syslog_priority(spdlog::level::info), 6);
  EXPECT_EQ(syslog_priority(spdlog::level::debug), 7);
}

TEST_F(DmLoggingTest, AFileLogStaysWithinItsBoundKeepingFirstAndLatestLines) {
  const fs::path file = dir_ / "run.log";
  const UniqueFd fd(::open(file.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600));
  constexpr uint64_t kBound = 64 << 10;
  auto sink = std::make_shared<BoundedFdSink>(fd.get(), kBound);
  spdlog::logger logger("bounded", sink);
  logger.set_pattern("%v");
  constexpr int kLines = 20000;  // about 10 times the bound
  for (int i = 0; i < kLines; ++i) {
    logger.info("line {:05} of the run, some words to make it longer", i);
    if (i == kLines - 10) {
      // Another writer of the same file (stderr) keeps appending at its end, after cuts too.
      const std::string other = "a line written to stderr directly\n";
      ASSERT_EQ(::write(fd.get(), other.data(), other.size()), static_cast<ssize_t>(other.size()));
    }
  }
  EXPECT_LE(fs::file_size(file), kBound);
  EXPECT_GT(fs::file_size(file), kBound / 2);
  EXPECT_GT(sink->dropped_bytes(), 9 * kBound);
  const auto lines = lines_of(file);
  ASSERT_GT(lines.size(), 2u);
  EXPECT_EQ(lines.front(), "line 00000 of the run, some words to make it longer");
  EXPECT_EQ(lines.back(), "line 19999 of the run, some words to make it longer");
  // Whole lines only, each once, in order; the cuts say so.
  int last = -1;
  int markers = 0;
  int others = 0;
  for (const auto& l : lines) {
    if (l.rfind("xvgpu-dm: [log bound 65536 bytes: ", 0) == 0) {
      ++markers;
      continue;
    }
    if (l == "a line written to stderr directly") {
      ++others;
      EXPECT_EQ(last, kLines - 10);
      continue;
    }
    int n = 0;
    ASSERT_EQ(std::sscanf(l.c_str(), "line %05d of the run, some words to make it longer", &n), 1) << l;
    EXPECT_GT(n, last) << l;
    last = n;
  }
  EXPECT_EQ(markers, 1);  // the latest cut's line replaces the earlier ones
  EXPECT_EQ(others, 1);
}

TEST_F(DmLoggingTest, AStreamThatIsNotAFileIsLeftAlone) {
  int p[2];
  ASSERT_EQ(::pipe2(p, O_CLOEXEC | O_NONBLOCK), 0);
  const UniqueFd r(p[0]);
  const UniqueFd w(p[1]);
  auto sink = std::make_shared<BoundedFdSink>(w.get(), 64 << 10);
  spdlog::logger logger("pipe", sink);
  logger.set_pattern("%v");
  logger.info("through the pipe");
  char buf[64] = {};
  ASSERT_EQ(::read(r.get(), buf, sizeof buf), 17);
  EXPECT_EQ(std::string(buf), "through the pipe\n");
  EXPECT_EQ(sink->dropped_bytes(), 0u);
}

}  // namespace
}  // namespace xvgpu::dm
