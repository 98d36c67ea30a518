// The device model's log is one file per run, named by VM and start, the newest few of a VM kept, and
// RUN_DIR/dm-DOMID.log names the domain's latest run: a domain ID reused by another VM mixes nothing.
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "ctl/dm_launcher.h"
#include "support/temp_dir.h"

namespace xvgpu::ctl {
namespace {

namespace fs = std::filesystem;

class RunLogTest : public ::testing::Test {
 protected:
  static void write(const RunLog& log, const std::string& text) {
    ASSERT_EQ(::write(log.fd.get(), text.data(), text.size()), static_cast<ssize_t>(text.size()));
  }
  static std::string read(const fs::path& p) {
    std::ifstream in(p);
    std::ostringstream text;
    text << in.rdbuf();
    return text.str();
  }
  std::vector<std::string> logs() const {
    std::vector<std::string> out;
    for (const auto& e : fs::directory_iterator(run_log_dir(dir_.string())))
      out.push_back(e.path().filename());
    std::sort(out.begin(), out.end());
    return out;
  }
  TempDir tmp_{"xvgpu-runlog-"};
  fs::path dir_ = tmp_.path() / "run";  // the launcher creates it
};

TEST_F(RunLogTest, ADomainIdReusedByAnotherVmStartsAFreshLog) {
  const Domid d{7};
  const RunLog alpha = open_run_log(dir_.string(), d, "alpha");
  write(alpha, "alpha's run\n");
  const RunLog beta = open_run_log(dir_.string(), d, "beta");
  write(beta, "beta's run\n");
  EXPECT_NE(alpha.path, beta.path);
  EXPECT_EQ(read(alpha.path), "alpha's run\n");
  EXPECT_EQ(read(beta.path), "beta's run\n");
  // dm-7.log is the latest run's.
  const fs::path link = RunPaths::of(dir_.string(), d).log;
  ASSERT_TRUE(fs::is_symlink(link));
  EXPECT_EQ(read(link), "beta's run\n");
  EXPECT_EQ(fs::canonical(link), fs::canonical(beta.path));
  EXPECT_EQ(fs::path(beta.path).parent_path(), fs::path(run_log_dir(dir_.string())));
  EXPECT_EQ(fs::path(beta.path).filename().string().rfind("beta.", 0), 0u);
}

TEST_F(RunLogTest, EachRunHasItsOwnFileAndTheNewestFiveAreKept) {
  std::vector<std::string> paths;
  for (int i = 0; i < 7; ++i) {
    const RunLog r = open_run_log(dir_.string(), Domid{static_cast<uint16_t>(3 + i)}, "web");
    write(r, "run " + std::to_string(i) + "\n");
    paths.push_back(r.path);
  }
  // Another VM whose name starts like this one's, and a file that is no run log, are not this VM's.
  const RunLog other = open_run_log(dir_.string(), Domid{20}, "web.2");
  std::ofstream(fs::path(run_log_dir(dir_.string())) / "web.notes") << "kept\n";
  const RunLog eighth = open_run_log(dir_.string(), Domid{21}, "web");
  paths.push_back(eighth.path);
  const auto names = logs();
  EXPECT_EQ(names.size(), kKeptRunLogs + 2) << ::testing::PrintToString(names);
  for (std::size_t i = 0; i < paths.size(); ++i) {
    EXPECT_EQ(fs::exists(paths[i]), i + kKeptRunLogs >= paths.size()) << paths[i];
  }
  EXPECT_TRUE(fs::exists(other.path));
  EXPECT_EQ(read(paths[6]), "run 6\n");
  // Runs within one second still get files of their own.
  std::sort(paths.begin(), paths.end());
  EXPECT_EQ(std::unique(paths.begin(), paths.end()), paths.end());
}

TEST_F(RunLogTest, TheKeyIsTheVmNameElseItsUuidElseTheDomain) {
  EXPECT_EQ(run_log_key("web-01", "0e3c3d2a-1111-4222-8333-44445555aaaa", Domid{4}), "web-01");
  EXPECT_EQ(run_log_key("", "0e3c3d2a-1111-4222-8333-44445555aaaa", Domid{4}),
            "0e3c3d2a-1111-4222-8333-44445555aaaa");
  EXPECT_EQ(run_log_key("", "", Domid{4}), "domain-4");
  EXPECT_EQ(run_log_key("a/b c", "", Domid{4}), "a_b_c");
  EXPECT_EQ(run_log_key("..", "", Domid{4}), "_.");
}

}  // namespace
}  // namespace xvgpu::ctl
