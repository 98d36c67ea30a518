// The control server's output side: replies leave through bounded per-client buffers as each
// socket becomes writable, so a client that does not read its (large) reply delays nobody else,
// and is disconnected at the reply deadline or when over a limit, with a log line naming it.
// A stand-in handler produces replies of any size.
#include <gtest/gtest.h>
#include <poll.h>
#include <spdlog/sinks/ringbuffer_sink.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <barrier>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "control/control_protocol.h"
#include "dm/control_server.h"

namespace xvgpu::control {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;
using Clock = std::chrono::steady_clock;

// n characters of a pattern that shows where a reply was cut or mixed with another.
std::string pattern(std::size_t n, unsigned salt) {
  static constexpr std::string_view kDigits = "0123456789abcdefghijklmnopqrstuvwxyz";
  std::string s(n, ' ');
  for (std::size_t k = 0; k < n; ++k) s[k] = kDigits[(k / 7 + salt) % kDigits.size()];
  return s;
}

// The exact line the server sends for a "big" request.
std::string big_reply(std::size_t n, unsigned salt) {
  return encode_message(make_ok(pattern(n, salt)));
}

class ControlBackpressure : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() / ("xvgpu-ctl-bp-" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir_);
    path_ = (dir_ / "dm.sock").string();
    // The server's log lines, to check what a disconnection says.
    sink_ = std::make_shared<spdlog::sinks::ringbuffer_sink_mt>(256);
    saved_ = spdlog::default_logger();
    spdlog::set_default_logger(std::make_shared<spdlog::logger>("test", sink_));
  }
  void TearDown() override {
    spdlog::set_default_logger(saved_);
    std::filesystem::remove_all(dir_);
  }

  // status: small; echo: the payload; big: {"bytes": N, "salt": S} -> pattern(N, S).
  static json handler(const json& req) {
    const auto cmd = req.at("cmd").get<std::string>();
    if (cmd == "status") return {{"state", "running"}};
    if (cmd == "echo") return req.at("payload");
    if (cmd == "big") return pattern(req.at("bytes").get<std::size_t>(), req.value("salt", 0u));
    throw RequestError(kErrUnknownCmd, "unknown command " + cmd);
  }

  [[nodiscard]] std::string logged() const {
    std::string all;
    for (const auto& l : sink_->last_formatted()) all += l;
    return all;
  }

  [[nodiscard]] int connect_raw() const {
    const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_un a{};
    a.sun_family = AF_UNIX;
    std::strncpy(a.sun_path, path_.c_str(), sizeof a.sun_path - 1);
    EXPECT_EQ(::connect(fd, reinterpret_cast<const sockaddr*>(&a), sizeof a), 0) << std::strerror(errno);
    return fd;
  }
  static void send_all(int fd, std::string_view s) {
    while (!s.empty()) {
      const ssize_t n = ::send(fd, s.data(), s.size(), MSG_NOSIGNAL);
      ASSERT_GT(n, 0) << std::strerror(errno);
      s.remove_prefix(static_cast<std::size_t>(n));
    }
  }
  static void request_big(int fd, std::size_t bytes, unsigned salt) {
    send_all(fd, encode_message({{"cmd", "big"}, {"bytes", bytes}, {"salt", salt}}));
  }
  // Reads exactly n bytes (or fewer if the server hangs up); gives up after `limit`.
  static std::string read_n(int fd, std::size_t n, std::chrono::milliseconds limit = 5s) {
    std::string got;
    const auto end = Clock::now() + limit;
    std::vector<char> buf(1 << 16);
    while (got.size() < n && Clock::now() < end) {
      pollfd p{fd, POLLIN, 0};
      if (::poll(&p, 1, 50) <= 0) continue;
      const ssize_t r = ::recv(fd, buf.data(), std::min(buf.size(), n - got.size()), MSG_DONTWAIT);
      if (r == 0) break;
      if (r > 0) got.append(buf.data(), static_cast<std::size_t>(r));
    }
    return got;
  }
  // True once the server closed the connection, seen without reading a byte (a read would
  // drain the reply, which is what the test's client must not do).
  static bool hung_up(int fd, std::chrono::milliseconds limit) {
    pollfd p{fd, POLLRDHUP, 0};
    return ::poll(&p, 1, static_cast<int>(limit.count())) > 0 && (p.revents & (POLLHUP | POLLRDHUP)) != 0;
  }
  // A well-behaved client: a status request on a new connection; how long it took.
  std::chrono::milliseconds timed_status() const {
    const auto t0 = Clock::now();
    Client c(path_, 5s);
    EXPECT_EQ(c.call({{"cmd", "status"}}).at("state"), "running");
    return std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - t0);
  }

  std::filesystem::path dir_;
  std::string path_;
  std::shared_ptr<spdlog::sinks::ringbuffer_sink_mt> sink_;
  std::shared_ptr<spdlog::logger> saved_;
};

TEST_F(ControlBackpressure, AClientNotReadingItsReplyDelaysNobodyAndIsDroppedAtTheDeadline) {
  ControlServer server(path_, 0600, handler);  // production limits: 2 s reply deadline
  server.start();
  const int a = connect_raw();
  const auto asked = Clock::now();
  request_big(a, 8u << 20, 1);  // like a screenshot; far more than the socket buffer holds
  // The server started answering A (bytes wait in A's socket), and then stopped: A never reads.
  pollfd p{a, POLLIN, 0};
  ASSERT_EQ(::poll(&p, 1, 10000), 1);  // generous: an 8 MiB reply is slow to build under TSan

  // B, on another connection, is answered while A's reply is stuck.
  const auto t0 = Clock::now();
  Client b(path_, 5s);
  for (int k = 0; k < 5; ++k) {
    EXPECT_EQ(b.call({{"cmd", "status"}}).at("state"), "running");
    EXPECT_EQ(b.call({{"cmd", "echo"}, {"payload", {{"k", k}}}}), json({{"k", k}}));
  }
  const auto b_took = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - t0);
  std::printf("[ figures ] 10 requests of B while A's 8 MiB reply is stuck: %lld ms\n",
              static_cast<long long>(b_took.count()));
  EXPECT_LT(b_took, 1000ms) << "a client not reading its reply holds up the others";
  // Ordering: B was answered before A was disconnected.
  EXPECT_FALSE(hung_up(a, 0ms)) << "A was dropped before B was served: B's promptness proves nothing";

  // A is dropped at the 2 s deadline (generous upper bound), with a log line naming it.
  ASSERT_TRUE(hung_up(a, 6s)) << "A is still connected 6 s after its reply got stuck";
  const auto a_lasted = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - asked);
  std::printf("[ figures ] A disconnected %lld ms after its request (deadline %lld ms)\n",
              static_cast<long long>(a_lasted.count()), static_cast<long long>(kReplyDeadline.count()));
  EXPECT_GE(a_lasted, kReplyDeadline) << "dropped before its deadline";
  const std::string log = logged();
  EXPECT_NE(log.find("pid " + std::to_string(::getpid())), std::string::npos) << log;
  EXPECT_NE(log.find("not read within 2000 ms"), std::string::npos) << log;
  ::close(a);
  EXPECT_EQ(b.call({{"cmd", "status"}}).at("state"), "running");
  EXPECT_LT(timed_status(), 1000ms);
}

TEST_F(ControlBackpressure, AClientThatStopsReadingMidwayIsDroppedAndTheServerServesOn) {
  ControlServer server(path_, 0600, handler);
  server.start();
  const int a = connect_raw();
  const std::string want = big_reply(8u << 20, 2);
  request_big(a, 8u << 20, 2);
  const std::string head = read_n(a, 1u << 20);
  ASSERT_EQ(head.size(), 1u << 20);
  EXPECT_EQ(head, want.substr(0, head.size())) << "the first MiB is not the reply's";
  // Then A stops reading: dropped at the deadline.
  ASSERT_TRUE(hung_up(a, 6s));
  EXPECT_NE(logged().find("bytes unsent"), std::string::npos) << logged();
  ::close(a);
  // The server goes on serving, large replies included.
  const int c = connect_raw();
  request_big(c, 4u << 20, 3);
  const std::string want_c = big_reply(4u << 20, 3);
  EXPECT_EQ(read_n(c, want_c.size()), want_c);
  ::close(c);
  EXPECT_LT(timed_status(), 1000ms);
}

TEST_F(ControlBackpressure, ManyClientsAtOnceEachGetTheirOwnRepliesInOrder) {
  constexpr unsigned kClients = 64;
  ControlLimits limits;
  limits.max_clients = kClients;  // production allows 16 at once; the loop does not care how many
  ControlServer server(path_, 0600, handler, limits);
  server.start();
  std::atomic<unsigned> good{0};
  std::barrier start(kClients);
  std::vector<std::thread> threads;
  for (unsigned id = 0; id < kClients; ++id) {
    threads.emplace_back([&, id] {
      const int fd = connect_raw();
      start.arrive_and_wait();  // every connection open before anyone asks
      // Pipelined: a small, a large (beyond the socket buffer), a small, a large.
      const std::size_t big1 = (256u << 10) + id * 1024u;
      const std::size_t big2 = (64u << 10) + id * 4096u;
      std::string reqs = encode_message({{"cmd", "echo"}, {"payload", {{"id", id}, {"k", 0}}}});
      reqs += encode_message({{"cmd", "big"}, {"bytes", big1}, {"salt", id}});
      reqs += encode_message({{"cmd", "echo"}, {"payload", {{"id", id}, {"k", 2}}}});
      reqs += encode_message({{"cmd", "big"}, {"bytes", big2}, {"salt", id + 1}});
      std::string want = encode_message(make_ok({{"id", id}, {"k", 0}})) + big_reply(big1, id) +
                         encode_message(make_ok({{"id", id}, {"k", 2}})) + big_reply(big2, id + 1);
      send_all(fd, reqs);
      const std::string got = read_n(fd, want.size(), 20s);
      if (got == want) {
        ++good;
      } else {
        ADD_FAILURE() << "client " << id << ": " << got.size() << " of " << want.size()
                      << " bytes, first difference at "
                      << (std::mismatch(got.begin(), got.end(), want.begin()).first - got.begin());
      }
      ::close(fd);
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(good.load(), kClients);
  EXPECT_EQ(logged().find("dropped"), std::string::npos) << logged();
}

TEST_F(ControlBackpressure, RequestsWaitWhileSlowClientsHoldTheTotalBacklog) {
  ControlLimits limits;
  limits.max_reply_backlog_per_client = 4u << 20;
  limits.max_reply_backlog_total = 6u << 20;  // requests wait while over 2 MiB is unsent
  limits.reply_deadline = 500ms;
  ControlServer server(path_, 0600, handler, limits);
  server.start();
  const int a = connect_raw();
  request_big(a, 3u << 20, 4);  // about 3 MiB left unsent: over the admission mark
  pollfd p{a, POLLIN, 0};
  ASSERT_EQ(::poll(&p, 1, 10000), 1);  // generous: an 8 MiB reply is slow to build under TSan
  Client b(path_, 5s);
  EXPECT_EQ(b.call({{"cmd", "status"}}).at("state"), "running");
  // B's answer had to wait until A's memory was given back, that is until A was dropped.
  EXPECT_TRUE(hung_up(a, 0ms)) << "B was answered while A held the backlog over the limit";
  EXPECT_NE(logged().find("not read within 500 ms"), std::string::npos) << logged();
  ::close(a);
  // And without a slow client, nothing waits.
  EXPECT_LT(timed_status(), 1000ms);
}

TEST_F(ControlBackpressure, AReplyOverThePerClientLimitDropsThatClientOnly) {
  ControlLimits limits;
  limits.max_reply_backlog_per_client = 1u << 20;
  limits.max_reply_backlog_total = 2u << 20;
  ControlServer server(path_, 0600, handler, limits);
  server.start();
  Client b(path_, 5s);
  const int a = connect_raw();
  request_big(a, 2u << 20, 5);
  EXPECT_TRUE(hung_up(a, 2s));
  EXPECT_EQ(read_n(a, 1, 100ms), "") << "a part of the oversized reply was sent";
  EXPECT_NE(logged().find("over the per-client limit of 1048576"), std::string::npos) << logged();
  EXPECT_NE(logged().find("pid " + std::to_string(::getpid())), std::string::npos) << logged();
  ::close(a);
  EXPECT_EQ(b.call({{"cmd", "echo"}, {"payload", pattern(900u << 10, 6)}}), json(pattern(900u << 10, 6)));
}

TEST_F(ControlBackpressure, LimitsThatCannotHoldOneReplyAreRefused) {
  ControlLimits limits;
  limits.max_reply_backlog_per_client = 2u << 20;
  limits.max_reply_backlog_total = 1u << 20;
  EXPECT_THROW(ControlServer(path_, 0600, handler, limits), Error);
}

}  // namespace
}  // namespace xvgpu::control
