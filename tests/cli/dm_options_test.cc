#include "dm/dm_options.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <string>
#include <vector>

namespace xvgpu::dm {
namespace {

constexpr const char* kUuid = "6f1c5b2e-1d3a-4c5b-9e7f-0a1b2c3d4e5f";
constexpr const char* kUuid2 = "7f1c5b2e-1d3a-4c5b-9e7f-0a1b2c3d4e5f";

class DmOptionsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() / ("xvgpu-dm-opts-" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  // argv with the socket and pidfile in the temporary directory unless overridden.
  DmOptions parse(std::vector<std::string> args, bool add_paths = true) {
    std::vector<std::string> all{"xvgpu-dm"};
    all.insert(all.end(), args.begin(), args.end());
    if (add_paths) {
      all.insert(all.end(),
                 {"--control-socket", (dir_ / "s.sock").string(), "--pidfile", (dir_ / "p.pid").string()});
    }
    std::vector<const char*> argv;
    for (const auto& a : all) argv.push_back(a.c_str());
    return parse_dm_options(static_cast<int>(argv.size()), argv.data());
  }
  // The one-line error for args; fails the test when they are accepted.
  std::string error_of(std::vector<std::string> args, bool add_paths = true) {
    try {
      parse(std::move(args), add_paths);
    } catch (const UsageError& e) {
      const std::string msg = e.what();
      EXPECT_EQ(msg.find('\n'), std::string::npos) << msg;
      return msg;
    }
    ADD_FAILURE() << "arguments accepted";
    return {};
  }

  std::filesystem::path dir_;
};

TEST_F(DmOptionsTest, AcceptsAFullCommandLine) {
  const auto o =
      parse({"--domain", "7", "--vgpu", std::string("uuid=") + kUuid + ",type=simgpu-64,bdf=00:05.0",
             "--vgpu", std::string("uuid=") + kUuid2 + ",type=simgpu-16,weight=2", "--log-level", "debug",
             "--log-file", (dir_ / "dm.log").string(), "--control-socket-mode", "0660"});
  EXPECT_EQ(o.domid.value, 7);
  ASSERT_EQ(o.vgpus.size(), 2u);
  EXPECT_EQ(o.vgpus[1].knobs.at(0).first, "weight");
  EXPECT_EQ(o.log_level, "debug");
  EXPECT_EQ(o.control_socket_mode, 0660u);
  EXPECT_EQ(o.xenstore_node, "/local/domain/0/device-model/7");
  EXPECT_EQ(o.control_socket, (dir_ / "s.sock").string());
}

TEST_F(DmOptionsTest, PciAddressPortEmulationIsOffUnlessAsked) {
  const std::string vgpu = std::string("uuid=") + kUuid + ",type=simgpu-64";
  EXPECT_FALSE(parse({"--domain", "7", "--vgpu", vgpu}).emulate_pci_cf8);
  EXPECT_TRUE(parse({"--domain", "7", "--vgpu", vgpu, "--emulate-pci-cf8"}).emulate_pci_cf8);
}

TEST_F(DmOptionsTest, HelpIsNotAnError) {
  const auto o = parse({"--help"});
  EXPECT_TRUE(o.help_requested);
  EXPECT_NE(o.help_text.find("--vgpu"), std::string::npos);
}

TEST_F(DmOptionsTest, EachBadArgumentIsNamed) {
  const std::string v = std::string("uuid=") + kUuid + ",type=simgpu-64";
  EXPECT_NE(error_of({"--vgpu", v}).find("--domain"), std::string::npos);
  EXPECT_NE(error_of({"--domain", "x"}).find("--domain"), std::string::npos);
  EXPECT_NE(error_of({"--domain", "0"}).find("--domain 0"), std::string::npos);
  EXPECT_NE(error_of({"--domain", "32752"}).find("--domain"), std::string::npos);
  EXPECT_NE(error_of({"--domain", "3", "--vgpu", "type=x"}).find("--vgpu type=x: missing uuid"),
            std::string::npos);
  EXPECT_NE(error_of({"--domain", "3", "--vgpu", v, "--vgpu", v}).find("given twice"), std::string::npos);
  EXPECT_NE(error_of({"--domain", "3", "--vgpu", v + ",bdf=00:05.0", "--vgpu",
                      std::string("uuid=") + kUuid2 + ",type=t,bdf=00:05.0"})
                .find("used by two vGPUs"),
            std::string::npos);
  EXPECT_NE(error_of({"--domain", "3", "--vgpu", v + ",bdf=00:00.0"}).find("host bridge"), std::string::npos);
  EXPECT_NE(error_of({"--domain", "3", "--vendor-plugin", "/nonexistent/p.so"}).find("--vendor-plugin"),
            std::string::npos);
  EXPECT_NE(error_of({"--domain", "3", "--runas", "no-such-user-xvgpu"})
                .find("--runas no-such-user-xvgpu: no such user"),
            std::string::npos);
  EXPECT_NE(error_of({"--domain", "3", "--chroot", "/nonexistent"}).find("--chroot"), std::string::npos);
  EXPECT_NE(error_of({"--domain", "3", "--log-level", "loud"}).find("--log-level loud"), std::string::npos);
  EXPECT_NE(error_of({"--domain", "3", "--log-file", "/nonexistent/dir/log"}).find("--log-file"),
            std::string::npos);
  EXPECT_NE(error_of({"--domain", "3", "--log-file", (dir_ / "l").string(), "--syslog"}).find("--syslog"),
            std::string::npos);
  EXPECT_NE(error_of({"--domain", "3", "--control-socket-mode", "999"}).find("--control-socket-mode"),
            std::string::npos);
  EXPECT_NE(error_of({"--domain", "3", "--control-socket", "/nonexistent/dir/s", "--pidfile",
                      (dir_ / "p").string()},
                     false)
                .find("--control-socket"),
            std::string::npos);
  EXPECT_NE(error_of({"--domain", "3", "--control-socket", (dir_ / std::string(120, 'x')).string(),
                      "--pidfile", (dir_ / "p").string()},
                     false)
                .find("longer than"),
            std::string::npos);
  EXPECT_NE(error_of({"--domain", "3", "--pidfile", "/nonexistent/dir/p", "--control-socket",
                      (dir_ / "s").string()},
                     false)
                .find("--pidfile"),
            std::string::npos);
  EXPECT_NE(error_of({"--domain", "3", "--xenstore-node", "relative/path"}).find("--xenstore-node"),
            std::string::npos);
  EXPECT_NE(error_of({"--domain", "3", "--bogus"}).find("--bogus"), std::string::npos);
}

}  // namespace
}  // namespace xvgpu::dm
