// The control protocol end to end over a real UNIX socket, with a stand-in command handler.
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <cstring>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "control/control_protocol.h"
#include "dm/control_server.h"

namespace xvgpu::control {
namespace {

using nlohmann::json;

class ControlServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() / ("xvgpu-ctl-srv-" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir_);
    path_ = (dir_ / "dm.sock").string();
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  static json handler(const json& req) {
    const auto cmd = req.at("cmd").get<std::string>();
    if (cmd == "status") return {{"state", "running"}};
    if (cmd == "echo") return req.at("payload");
    if (cmd == "missing") throw RequestError(kErrNotFound, "no such vGPU x");
    if (cmd == "boom") throw std::runtime_error("exploded");
    throw RequestError(kErrUnknownCmd, "unknown command " + cmd);
  }

  std::filesystem::path dir_;
  std::string path_;
};

TEST_F(ControlServerTest, AnswersRequestsAndErrorsWithCodes) {
  ControlServer server(path_, 0600, handler);
  server.start();
  Client c(path_);
  EXPECT_EQ(c.call({{"cmd", "status"}}).at("state"), "running");
  // Several requests on one connection.
  EXPECT_EQ(c.call({{"cmd", "echo"}, {"payload", {1, 2, 3}}}), json({1, 2, 3}));
  try {
    c.call({{"cmd", "missing"}});
    FAIL();
  } catch (const ControlError& e) {
    EXPECT_EQ(e.code(), kErrNotFound);
    EXPECT_STREQ(e.what(), "no such vGPU x");
  }
  try {
    c.call({{"cmd", "boom"}});
    FAIL();
  } catch (const ControlError& e) {
    EXPECT_EQ(e.code(), kErrInternal);
  }
  try {
    c.call({{"nocmd", 1}});
    FAIL();
  } catch (const ControlError& e) {
    EXPECT_EQ(e.code(), kErrBadRequest);
  }
  // Still serving after errors.
  EXPECT_EQ(c.call({{"cmd", "status"}}).at("state"), "running");
}

TEST_F(ControlServerTest, SocketIsOwnerOnlyByDefaultAndRemovedOnStop) {
  {
    ControlServer server(path_, 0600, handler);
    server.start();
    struct stat st {};
    ASSERT_EQ(::lstat(path_.c_str(), &st), 0);
    EXPECT_TRUE(S_ISSOCK(st.st_mode));
    EXPECT_EQ(st.st_mode & 0777, 0600u);
  }
  EXPECT_FALSE(std::filesystem::exists(path_));
  ControlServer group(path_, 0660, handler);
  struct stat st {};
  ASSERT_EQ(::lstat(path_.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0660u);
}

TEST_F(ControlServerTest, StaleSocketIsReplacedLiveOneRefused) {
  {
    // A socket file nobody listens on, as a SIGKILLed device model leaves it.
    const int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
    sockaddr_un a{};
    a.sun_family = AF_UNIX;
    std::strcpy(a.sun_path, path_.c_str());
    ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)), 0);
    ::close(fd);
  }
  ControlServer first(path_, 0600, handler);
  first.start();
  EXPECT_THROW(ControlServer(path_, 0600, handler), Error);
  EXPECT_EQ(Client(path_).call({{"cmd", "status"}}).at("state"), "running");  // the first is unharmed
}

TEST_F(ControlServerTest, RefusesAPathThatIsNotASocket) {
  {
    std::FILE* f = std::fopen(path_.c_str(), "w");
    std::fclose(f);
  }
  EXPECT_THROW(ControlServer(path_, 0600, handler), Error);
  EXPECT_TRUE(std::filesystem::exists(path_));  // an operator's file is never deleted
}

TEST_F(ControlServerTest, MalformedAndPipelinedInput) {
  ControlServer server(path_, 0600, handler);
  server.start();
  const int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
  sockaddr_un a{};
  a.sun_family = AF_UNIX;
  std::strcpy(a.sun_path, path_.c_str());
  ASSERT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)), 0);
  // Two requests in one write: both answered, in order.
  const std::string two = "{\"cmd\":\"echo\",\"payload\":1}\n{\"cmd\":\"echo\",\"payload\":2}\n";
  ASSERT_EQ(::write(fd, two.data(), two.size()), static_cast<ssize_t>(two.size()));
  std::string got;
  char buf[256];
  while (std::count(got.begin(), got.end(), '\n') < 2) {
    const ssize_t n = ::read(fd, buf, sizeof(buf));
    ASSERT_GT(n, 0);
    got.append(buf, static_cast<size_t>(n));
  }
  EXPECT_EQ(got, "{\"ok\":true,\"result\":1}\n{\"ok\":true,\"result\":2}\n");
  // Garbage: the connection is dropped, the server lives on.
  const std::string junk = "this is not json\n";
  ASSERT_EQ(::write(fd, junk.data(), junk.size()), static_cast<ssize_t>(junk.size()));
  EXPECT_EQ(::read(fd, buf, sizeof(buf)), 0);
  ::close(fd);
  EXPECT_EQ(Client(path_).call({{"cmd", "status"}}).at("state"), "running");
}

TEST_F(ControlServerTest, ClientReportsNothingListening) {
  try {
    Client c(path_);
    FAIL();
  } catch (const ControlError& e) {
    EXPECT_EQ(e.code(), "transport");
  }
}

TEST(Base64, RoundTripsEveryLength) {
  std::string bytes;
  for (int i = 0; i < 40; ++i) {
    EXPECT_EQ(base64_decode(base64_encode(bytes)), bytes);
    bytes.push_back(static_cast<char>(i * 37 + 200));
  }
  EXPECT_EQ(base64_encode("foob"), "Zm9vYg==");
  EXPECT_THROW(base64_decode("abc"), Error);
  EXPECT_THROW(base64_decode("ab!d"), Error);
}

}  // namespace
}  // namespace xvgpu::control
