// Console input: X keysyms to QEMU qcodes, and the QMP client that hands keyboard and pointer
// events to the guest's QEMU, against a fake QEMU on the other end of its socket.
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <string>
#include <thread>

#include "common/unique_fd.h"
#include "dm/console/keysym_qcode.h"
#include "dm/console/qmp_input.h"

namespace xvgpu::dm {
namespace {

using nlohmann::json;
using namespace std::chrono_literals;

TEST(KeysymToQcode, LettersAndDigitsMapToTheirKeysWhateverTheCase) {
  EXPECT_EQ(keysym_to_qcode('a'), "a");
  EXPECT_EQ(keysym_to_qcode('A'), "a") << "the client sends Shift itself";
  EXPECT_EQ(keysym_to_qcode('z'), "z");
  EXPECT_EQ(keysym_to_qcode('Q'), "q");
  EXPECT_EQ(keysym_to_qcode('0'), "0");
  EXPECT_EQ(keysym_to_qcode('9'), "9");
}

TEST(KeysymToQcode, ShiftedSymbolsMapToTheirUsKey) {
  EXPECT_EQ(keysym_to_qcode('!'), "1");
  EXPECT_EQ(keysym_to_qcode('@'), "2");
  EXPECT_EQ(keysym_to_qcode(')'), "0");
  EXPECT_EQ(keysym_to_qcode('_'), "minus");
  EXPECT_EQ(keysym_to_qcode('-'), "minus");
  EXPECT_EQ(keysym_to_qcode('+'), "equal");
  EXPECT_EQ(keysym_to_qcode('{'), "bracket_left");
  EXPECT_EQ(keysym_to_qcode('|'), "backslash");
  EXPECT_EQ(keysym_to_qcode(':'), "semicolon");
  EXPECT_EQ(keysym_to_qcode('"'), "apostrophe");
  EXPECT_EQ(keysym_to_qcode('~'), "grave_accent");
  EXPECT_EQ(keysym_to_qcode('<'), "comma");
  EXPECT_EQ(keysym_to_qcode('>'), "dot");
  EXPECT_EQ(keysym_to_qcode('?'), "slash");
  EXPECT_EQ(keysym_to_qcode(' '), "spc");
}

TEST(KeysymToQcode, FunctionKeys) {
  EXPECT_EQ(keysym_to_qcode(0xff0d), "ret");        // Return
  EXPECT_EQ(keysym_to_qcode(0xff08), "backspace");  // BackSpace
  EXPECT_EQ(keysym_to_qcode(0xff09), "tab");
  EXPECT_EQ(keysym_to_qcode(0xff1b), "esc");
  EXPECT_EQ(keysym_to_qcode(0xffff), "delete");
  EXPECT_EQ(keysym_to_qcode(0xff51), "left");
  EXPECT_EQ(keysym_to_qcode(0xff54), "down");
  EXPECT_EQ(keysym_to_qcode(0xff55), "pgup");  // Prior
  EXPECT_EQ(keysym_to_qcode(0xff56), "pgdn");  // Next
  EXPECT_EQ(keysym_to_qcode(0xffbe), "f1");
  EXPECT_EQ(keysym_to_qcode(0xffc9), "f12");
  EXPECT_EQ(keysym_to_qcode(0xffe1), "shift");
  EXPECT_EQ(keysym_to_qcode(0xffe2), "shift_r");
  EXPECT_EQ(keysym_to_qcode(0xffe3), "ctrl");
  EXPECT_EQ(keysym_to_qcode(0xffe9), "alt");
  EXPECT_EQ(keysym_to_qcode(0xfe03), "alt_r");  // AltGr
  EXPECT_EQ(keysym_to_qcode(0xffeb), "meta_l");
  EXPECT_EQ(keysym_to_qcode(0xffb0), "kp_0");
  EXPECT_EQ(keysym_to_qcode(0xffb9), "kp_9");
  EXPECT_EQ(keysym_to_qcode(0xff8d), "kp_enter");
  EXPECT_EQ(keysym_to_qcode(0xffab), "kp_add");
}

TEST(KeysymToQcode, KeysymsWithoutAKeyHaveNone) {
  EXPECT_FALSE(keysym_to_qcode(0));
  EXPECT_FALSE(keysym_to_qcode(0x7f));
  EXPECT_FALSE(keysym_to_qcode(0xe9));                // eacute: no key of its own on a US layout
  EXPECT_FALSE(keysym_to_qcode(0xffc0 + 32));         // F35
  EXPECT_FALSE(keysym_to_qcode(0x1000000 + 0x20ac));  // Unicode euro sign
  EXPECT_FALSE(keysym_to_qcode(0xffffffff));
}

// The QEMU side of the input QMP socket.
class FakeQemu {
 public:
  explicit FakeQemu(const std::string& path) {
    fd_ = UniqueFd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    sockaddr_un sun{};
    sun.sun_family = AF_UNIX;
    path.copy(sun.sun_path, sizeof sun.sun_path - 1);
    connected_ = ::connect(fd_.get(), reinterpret_cast<sockaddr*>(&sun), sizeof sun) == 0;
    timeval tv{10, 0};
    ::setsockopt(fd_.get(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  }
  [[nodiscard]] bool connected() const { return connected_; }
  // False when the other end closed first.
  bool send_line(const std::string& s) const {
    const std::string l = s + "\n";
    return ::send(fd_.get(), l.data(), l.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(l.size());
  }
  // The next message xvgpu-dm sent (null on timeout or close).
  json next() {
    for (;;) {
      const auto nl = buf_.find('\n');
      if (nl != std::string::npos) {
        json j = json::parse(buf_.substr(0, nl));
        buf_.erase(0, nl + 1);
        return j;
      }
      char b[4096];
      const ssize_t r = ::recv(fd_.get(), b, sizeof b, 0);
      if (r <= 0) return nullptr;
      buf_.append(b, static_cast<size_t>(r));
    }
  }
  // Greeting, qmp_capabilities and the first query-mice, answered with a mouse that is current
  // and `absolute` or not.
  void handshake(bool absolute) {
    EXPECT_TRUE(send_line(
        R"({"QMP": {"version": {"qemu": {"micro": 0, "minor": 2, "major": 7}}, "capabilities": []}})"));
    EXPECT_EQ(next(), json({{"execute", "qmp_capabilities"}}));
    EXPECT_TRUE(send_line(R"({"return": {}})"));
    const json q = next();
    EXPECT_EQ(q.value("execute", ""), "query-mice");
    json mice =
        json::array({{{"name", "QEMU PS/2 Mouse"}, {"index", 0}, {"current", !absolute}, {"absolute", false}},
                     {{"name", "QEMU HID Tablet"}, {"index", 1}, {"current", absolute}, {"absolute", true}}});
    EXPECT_TRUE(send_line(json{{"return", mice}, {"id", q["id"]}}.dump()));
  }
  void close() { fd_.reset(); }

 private:
  UniqueFd fd_;
  bool connected_ = false;
  std::string buf_;
};

// A directory of this process's sockets, removed at exit.
struct SocketDir {
  std::filesystem::path path =
      std::filesystem::temp_directory_path() / ("xvgpu-input-" + std::to_string(::getpid()));
  SocketDir() { std::filesystem::create_directories(path); }
  ~SocketDir() {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
  }
  SocketDir(const SocketDir&) = delete;
  SocketDir& operator=(const SocketDir&) = delete;
};

std::string socket_path(const char* name) {
  static const SocketDir dir;
  return (dir.path / name).string();
}

bool wait_until(const std::function<bool()>& cond) {
  for (int i = 0; i < 3000; ++i) {  // 30 s: sanitizer builds on a loaded machine
    if (cond()) return true;
    std::this_thread::sleep_for(10ms);
  }
  return false;
}

json key_event(const char* qcode, bool down) {
  return {{"execute", "input-send-event"},
          {"arguments",
           {{"events",
             json::array({{{"type", "key"},
                           {"data", {{"down", down}, {"key", {{"type", "qcode"}, {"data", qcode}}}}}}})}}}};
}

TEST(QmpInput, KeysReachQemuAsQcodeEventsInOrder) {
  QmpInput input(socket_path("keys.sock"));
  input.key('a', true);  // before QEMU is there: dropped, not queued for later
  EXPECT_EQ(input.counters().dropped_offline, 1U);
  FakeQemu qemu(input.where().substr(5));
  ASSERT_TRUE(qemu.connected());
  qemu.handshake(false);
  ASSERT_TRUE(wait_until([&] { return input.counters().ready; }));
  input.key(0xffe1, true);  // Shift_L
  input.key('H', true);
  input.key('H', false);
  input.key(0xffe1, false);
  input.key(0x20ac, true);  // no key: counted, not sent
  input.key(0xff0d, true);
  EXPECT_EQ(qemu.next(), key_event("shift", true));
  EXPECT_EQ(qemu.next(), key_event("h", true));
  EXPECT_EQ(qemu.next(), key_event("h", false));
  EXPECT_EQ(qemu.next(), key_event("shift", false));
  EXPECT_EQ(qemu.next(), key_event("ret", true));
  ASSERT_TRUE(wait_until([&] { return input.counters().keys_sent == 5; }));
  EXPECT_EQ(input.counters().unmapped, 1U);
}

TEST(QmpInput, PointerIsAbsoluteForATabletAndRelativeForAMouse) {
  QmpInputOptions o;
  o.mice_query_interval = std::chrono::hours(1);  // one query (the handshake's) per connection
  QmpInput input(socket_path("ptr.sock"), o);
  {
    FakeQemu tablet(input.where().substr(5));
    tablet.handshake(true);
    ASSERT_TRUE(wait_until([&] { return input.counters().absolute; }));
    input.pointer(0x1, 1023, 0, 1024, 768);  // left button down at the top right corner
    const json e = tablet.next();
    ASSERT_EQ(e.value("execute", ""), "input-send-event");
    const json want = json::array({{{"type", "abs"}, {"data", {{"axis", "x"}, {"value", 0x7fff}}}},
                                   {{"type", "abs"}, {"data", {{"axis", "y"}, {"value", 0}}}},
                                   {{"type", "btn"}, {"data", {{"down", true}, {"button", "left"}}}}});
    EXPECT_EQ(e["arguments"]["events"], want);
    input.pointer(0x0, 1023, 0, 1024, 768);  // released, no move: only the button
    EXPECT_EQ(tablet.next()["arguments"]["events"],
              json::array({{{"type", "abs"}, {"data", {{"axis", "x"}, {"value", 0x7fff}}}},
                           {{"type", "abs"}, {"data", {{"axis", "y"}, {"value", 0}}}},
                           {{"type", "btn"}, {"data", {{"down", false}, {"button", "left"}}}}}));
  }
  ASSERT_TRUE(wait_until([&] { return !input.counters().ready; }));
  FakeQemu mouse(input.where().substr(5));  // QEMU again, now with a PS/2 mouse current
  mouse.handshake(false);
  ASSERT_TRUE(wait_until([&] { return input.counters().ready && !input.counters().absolute; }));
  input.pointer(0, 100, 100, 1024, 768);
  input.pointer(0x8, 110, 95, 1024, 768);  // moved by (10, -5), wheel up pressed
  EXPECT_EQ(mouse.next()["arguments"]["events"],
            json::array({{{"type", "rel"}, {"data", {{"axis", "x"}, {"value", 10}}}},
                         {{"type", "rel"}, {"data", {{"axis", "y"}, {"value", -5}}}},
                         {{"type", "btn"}, {"data", {{"down", true}, {"button", "wheel-up"}}}}}));
}

TEST(QmpInput, QemuThatNeverGreetsIsDroppedAndNothingBlocks) {
  QmpInputOptions o;
  o.handshake_timeout = 200ms;
  QmpInput input(socket_path("mute.sock"), o);
  FakeQemu mute(input.where().substr(5));
  ASSERT_TRUE(wait_until([&] { return input.counters().connections == 1; }));
  for (int i = 0; i < 10000; ++i) input.key('x', (i & 1) == 0);  // returns at once: nobody to take them
  EXPECT_EQ(input.counters().dropped_offline, 10000U);
  EXPECT_EQ(mute.next(), nullptr) << "the silent connection is closed after the handshake deadline";
}

TEST(QmpInput, QemuThatStopsReadingCostsEventsNotAStall) {
  QmpInputOptions o;
  o.max_queued = 64;
  o.max_unsent_bytes = 4096;
  QmpInput input(socket_path("slow.sock"), o);
  FakeQemu slow(input.where().substr(5));
  slow.handshake(false);
  ASSERT_TRUE(wait_until([&] { return input.counters().ready; }));
  // The kernel's socket buffer takes some, the bounded output the rest; the others are dropped.
  for (int i = 0; i < 50000; ++i) input.key('x', (i & 1) == 0);
  ASSERT_TRUE(wait_until([&] {
    const auto c = input.counters();
    return c.keys_sent + c.dropped_full == 50000;
  }));
  const auto c = input.counters();
  EXPECT_GT(c.dropped_full, 0U);
  EXPECT_GT(c.keys_sent, 0U);
  slow.close();  // a dead QEMU: the connection goes, input is dropped again
  ASSERT_TRUE(wait_until([&] { return !input.counters().ready; }));
  input.key('y', true);
  EXPECT_GT(input.counters().dropped_offline, 0U);
}

TEST(QmpInput, GarbageFromQemuEndsItsConnectionOnly) {
  QmpInput input(socket_path("junk.sock"));
  {
    FakeQemu junk(input.where().substr(5));
    EXPECT_TRUE(junk.send_line("this is not json"));
    EXPECT_EQ(junk.next(), nullptr);
  }
  {
    FakeQemu huge(input.where().substr(5));
    (void)huge.send_line(
        std::string(size_t{200} * 1024, 'a'));  // no newline within the bound: closed mid-way
    EXPECT_EQ(huge.next(), nullptr);
  }
  FakeQemu good(input.where().substr(5));
  good.handshake(false);
  ASSERT_TRUE(wait_until([&] { return input.counters().ready; }));
  input.key('q', true);
  EXPECT_EQ(good.next(), key_event("q", true));
}

}  // namespace
}  // namespace xvgpu::dm
