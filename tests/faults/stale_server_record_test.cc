// Stale ioreq-server records (src/dm/server_record.h) that must NOT lead a new xvgpu-dm to
// destroy a server: the record's domain died and a new domain got the same domid, a record
// forged with another domain handle, a record of the old format without a handle, and corrupt
// records. The server that must survive is another device model's: xensim's echo server, a
// separate process registered through the real libxendevicemodel API (Debian-linked, run on
// xensim's libraries), which the test checks still answers the guest.
#include <spawn.h>
#include <sys/wait.h>

#include <array>
#include <cstdio>
#include <cstring>
#include <random>

#include "../xensim/echo_server.h"
#include "dm_fixture.h"

namespace xvgpu::faults {
namespace {

using Handle = std::array<uint8_t, 16>;

std::string uuid_of(const uint8_t* h) {
  char out[37];
  (void)std::snprintf(out, sizeof out, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
                      h[0], h[1], h[2], h[3], h[4], h[5], h[6], h[7], h[8], h[9], h[10], h[11], h[12], h[13],
                      h[14], h[15]);
  return out;
}

// The echo server process (posix_spawn, so that this file depends on no process helper);
// SIGKILLed and reaped when destroyed.
class EchoProcess {
 public:
  EchoProcess(Domid d, const std::string& socket) {
    std::vector<std::string> argv{ECHO_PATH, std::to_string(d.value)};
    std::vector<std::string> env{"LD_LIBRARY_PATH=" XENSIM_LIBDIR, "XENSIM_SOCKET=" + socket};
    for (char** e = environ; *e != nullptr; ++e) {
      if (std::strncmp(*e, "LD_LIBRARY_PATH=", 16) != 0 && std::strncmp(*e, "XENSIM_SOCKET=", 14) != 0) {
        env.emplace_back(*e);
      }
    }
    std::vector<char*> args, envp;
    for (auto& a : argv) args.push_back(a.data());
    for (auto& e : env) envp.push_back(e.data());
    args.push_back(nullptr);
    envp.push_back(nullptr);
    if (::posix_spawn(&pid_, ECHO_PATH, nullptr, nullptr, args.data(), envp.data()) != 0) pid_ = -1;
  }
  EchoProcess(const EchoProcess&) = delete;
  EchoProcess& operator=(const EchoProcess&) = delete;
  ~EchoProcess() {
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
  }
  [[nodiscard]] pid_t pid() const { return pid_; }

 private:
  pid_t pid_ = -1;
};

class StaleServerRecords : public DmFaults {
 protected:
  [[nodiscard]] fs::path records() const { return dir_ / "state" / "ioreq-servers"; }
  [[nodiscard]] size_t record_count() const {
    size_t n = 0;
    std::error_code ec;
    for (auto it = fs::directory_iterator(records(), ec); !ec && it != fs::directory_iterator();
         it.increment(ec)) {
      ++n;
    }
    return n;
  }
  [[nodiscard]] std::string handle_of_domain() { return uuid_of(guest_->status(dom_).info.handle); }
  // A record file as a killed xvgpu-dm would have left it (nobody holds it).
  void write_record(long pid, const std::string& text) {
    fs::create_directories(records());
    std::ofstream(records() / ("dom" + std::to_string(dom_.value) + "-" + std::to_string(pid)),
                  std::ios::binary)
        << text;
  }
  static std::string v2_record(Domid d, const std::string& uuid, unsigned id, long pid) {
    return "xvgpu-ioreq-server-record 2\ndomid " + std::to_string(d.value) + "\ndomain-handle " + uuid +
           "\nserver-id " + std::to_string(id) + "\npid " + std::to_string(pid) + "\n";
  }

  // Another device model for the domain: the echo server, ioreq server id 0 when it is the
  // first on this instance of the domain. The domain must be running (the probe waits for it).
  void start_echo() {
    echo_.emplace(dom_, socket_);
    ASSERT_GT(echo_->pid(), 0) << "cannot start " << ECHO_PATH;
    ASSERT_TRUE(eventually([&] { return echo_serves() || !alive(echo_->pid()); }, 10s));
    ASSERT_TRUE(echo_serves()) << "the echo server did not come up";
  }
  // A guest read in the echo device's MMIO range is answered by its server with its value (not
  // all ones from Xen's null handler, which is what a destroyed server leaves).
  bool echo_serves() {
    xensim::Access a;
    a.space = xensim::Space::mmio;
    a.dir = 1;  // IOREQ_READ
    a.size = 4;
    a.addr = echo::kMmioFirst + 0x40;
    const auto r = guest_->access(dom_, VcpuId{1}, a);
    constexpr uint8_t kIoreqTypeCopy = 1;  // IOREQ_TYPE_COPY: MMIO
    return r.status == xensim::AccessStatus::ok && r.data == echo::echo_default(kIoreqTypeCopy, a.addr, 4);
  }

  // The new xvgpu-dm serves its vGPU (config space through its own server), an INVALIDATE
  // broadcast is answered by every server (none left hanging), then it exits cleanly and
  // leaves no record behind.
  void expect_dm_serves_and_exits_cleanly() {
    EXPECT_EQ(cfg_read(0x00, 4), 0x11111234u) << "the vGPU's vendor and device id";
    EXPECT_EQ(guest_->remove_memory(dom_, VcpuId{1}, Gfn{spare_gfn_++}, 1), xensim::AccessStatus::ok);
    const auto st = guest_->status(dom_);
    EXPECT_TRUE(st.crash_reason.empty()) << st.crash_reason;
    EXPECT_TRUE(st.hung.empty()) << st.hung.size() << " hung vCPU(s)";
    EXPECT_EQ(record_count(), 1u) << "only the running instance's record";
    ::kill(dm_pid(), SIGTERM);
    EXPECT_EQ(wait_dm_exit(5s), 0) << log();
    EXPECT_EQ(record_count(), 0u) << "a clean exit removes its record";
  }

  std::optional<EchoProcess> echo_;
};

TEST_F(StaleServerRecords, EachDomainInstanceHasItsOwnStableHandle) {
  const std::string first = handle_of_domain();
  EXPECT_EQ(handle_of_domain(), first) << "stable while the domain lives";
  EXPECT_NE(first, uuid_of(Handle{}.data())) << "xl gives every domain a UUID";
  const Domid other = guest_->create_domain({.vcpus = 1, .ram_mib = 16, .start_paused = true});
  EXPECT_NE(uuid_of(guest_->status(other).info.handle), first);
  // The toolstack's uuid= is the handle; a domid in use is refused (EEXIST), as by Xen.
  xensim::DomainIdentity id;
  id.handle = Handle{0x5e, 0xed, 1, 2, 3, 4, 0x45, 6, 0x87, 8, 9, 10, 11, 12, 13, 14};
  const Domid chosen = guest_->create_domain({.vcpus = 1, .ram_mib = 16, .start_paused = true}, id);
  EXPECT_EQ(uuid_of(guest_->status(chosen).info.handle), "5eed0102-0304-4506-8708-090a0b0c0d0e");
  id.domid = chosen.value;
  try {
    guest_->create_domain({.vcpus = 1, .ram_mib = 16, .start_paused = true}, id);
    ADD_FAILURE() << "created a second domain " << chosen.value;
  } catch (const SystemError& e) {
    EXPECT_EQ(e.err(), EEXIST);
  }
}

// The scenario of the fix: xvgpu-dm killed, its domain destroyed, a new domain created with the
// same domid whose first ioreq server (another device model's) got the same server id.
TEST_F(StaleServerRecords, ARecordOfAnEarlierDomainWithTheSameDomidLeavesTheNewDomainsServerAlone) {
  ASSERT_TRUE(start_dm()) << log();
  const std::string old_handle = handle_of_domain();
  const pid_t killed = dm_pid();
  ::kill(killed, SIGKILL);
  ASSERT_EQ(wait_dm_exit(5s), 128 + SIGKILL);
  ASSERT_EQ(record_count(), 1u) << "the killed instance's record stays";
  guest_->destroy_domain(dom_);
  ASSERT_TRUE(domain_gone_within(2s));
  xensim::DomainIdentity same_domid;
  same_domid.domid = dom_.value;
  ASSERT_EQ(guest_->create_domain({.vcpus = 2, .ram_mib = 64, .start_paused = true}, same_domid), dom_);
  const std::string new_handle = handle_of_domain();
  ASSERT_NE(new_handle, old_handle);
  guest_->unpause(dom_);
  start_echo();  // server 0 of the new domain, the id the record names

  ASSERT_TRUE(start_dm()) << log();
  const std::string l = log();
  EXPECT_NE(
      l.find("dom" + std::to_string(dom_.value) + "-" + std::to_string(killed) + " of xvgpu-dm pid " +
             std::to_string(killed) + " is of an earlier domain " + std::to_string(dom_.value) + " (handle " +
             old_handle + "); domain " + std::to_string(dom_.value) + " is now another domain (handle " +
             new_handle + "): its ioreq server 0 left alone, record discarded"),
      std::string::npos)
      << l;
  EXPECT_EQ(l.find("destroyed ioreq server"), std::string::npos) << l;
  EXPECT_TRUE(echo_serves()) << "the new domain's other device model lost its ioreq server";
  expect_dm_serves_and_exits_cleanly();
  EXPECT_TRUE(echo_serves());
}

TEST_F(StaleServerRecords, AForgedRecordWithAnotherHandleLeavesTheServerAlone) {
  guest_->unpause(dom_);
  start_echo();
  write_record(999999, v2_record(dom_, "0badc0de-0000-4000-8000-000000000001", 0, 999999));
  ASSERT_TRUE(start_dm()) << log();
  EXPECT_NE(
      log().find("is of an earlier domain " + std::to_string(dom_.value) +
                 " (handle 0badc0de-0000-4000-8000-000000000001); domain " + std::to_string(dom_.value) +
                 " is now another domain (handle " + handle_of_domain() + "): its ioreq server 0 left alone"),
      std::string::npos)
      << log();
  EXPECT_TRUE(echo_serves()) << "destroyed on a record of another domain instance";
  expect_dm_serves_and_exits_cleanly();
}

// The control for the test above: the same record with the live domain's handle is trusted,
// and the server it names (here the echo server's) is destroyed. So the record, the server id
// and the check of the guest's view are right, and only the handle saves the server above.
TEST_F(StaleServerRecords, AForgedRecordWithTheLiveHandleIsTrusted) {
  guest_->unpause(dom_);
  start_echo();
  write_record(999999, v2_record(dom_, handle_of_domain(), 0, 999999));
  ASSERT_TRUE(start_dm()) << log();
  EXPECT_NE(log().find("destroyed ioreq server 0 of domain " + std::to_string(dom_.value) + " (" +
                       handle_of_domain() + ") left behind by xvgpu-dm pid 999999"),
            std::string::npos)
      << log();
  EXPECT_FALSE(echo_serves()) << "the recorded server was not destroyed";
}

// A record written before handles were recorded (the server id alone) cannot prove which
// instance of the domain it was: the server is left alone, and the operator is told.
TEST_F(StaleServerRecords, AnOldFormatRecordLeavesTheServerAloneAndSaysSo) {
  guest_->unpause(dom_);
  start_echo();
  write_record(424242, "0\n");
  ASSERT_TRUE(start_dm()) << log();
  EXPECT_NE(log().find("dom" + std::to_string(dom_.value) +
                       "-424242 of xvgpu-dm pid 424242 names no domain handle (older format): cannot tell "
                       "whether ioreq server 0 belongs to this domain"),
            std::string::npos)
      << log();
  EXPECT_TRUE(echo_serves());
  expect_dm_serves_and_exits_cleanly();
}

// After --runas the device model may not unlink its record at a clean exit; the server it
// names is destroyed all the same, and Xen may give its id to the next server registered. The
// record is marked released through the descriptor the process still holds, so a successor
// leaves that next server (here the echo server, with the same id and on the same domain
// instance) alone.
TEST_F(StaleServerRecords, ACleanExitThatCannotRemoveItsRecordLeavesNothingToDestroy) {
  if (::geteuid() != 0) GTEST_SKIP() << "--runas needs root (running as uid " << ::geteuid() << ")";
  const fs::path root = dir_ / "empty-root";
  fs::create_directories(root);
  ASSERT_TRUE(start_dm({"--runas", "nobody", "--chroot", root.string()})) << log() << err();
  const pid_t first = dm_pid();
  ::kill(first, SIGTERM);
  ASSERT_EQ(wait_dm_exit(5s), 0) << log();
  const fs::path left = records() / ("dom" + std::to_string(dom_.value) + "-" + std::to_string(first));
  ASSERT_TRUE(fs::exists(left)) << "nobody could unlink it (else this test shows nothing)";
  EXPECT_EQ(read_file(left).rfind("xvgpu-ioreq-server-released\n", 0), 0u) << read_file(left);
  guest_->unpause(dom_);
  start_echo();  // server 0 again: the id the record names
  ASSERT_TRUE(start_dm()) << log();
  EXPECT_EQ(log().find("destroyed ioreq server"), std::string::npos) << log();
  EXPECT_TRUE(echo_serves()) << "a released record destroyed another device model's server";
  EXPECT_FALSE(fs::exists(left)) << "the released record is removed";
  expect_dm_serves_and_exits_cleanly();
}

TEST_F(StaleServerRecords, CorruptOrTruncatedRecordsAreRefusedWithAClearLine) {
  guest_->unpause(dom_);
  start_echo();
  const std::string uuid = handle_of_domain();
  const std::string full = v2_record(dom_, uuid, 0, 101);
  write_record(101, full.substr(0, full.find("server-id")));                    // cut after a whole line
  write_record(102, v2_record(dom_, uuid, 0, 102).substr(0, full.size() - 3));  // cut inside the last
  std::string garbage(300, '\0');
  std::mt19937 rng(7);
  for (auto& c : garbage) c = static_cast<char>(rng());
  write_record(103, garbage + "\n");
  write_record(104, "xvgpu-ioreq-server-record 9\nwhatever\n");
  write_record(105, std::string(100000, '7'));
  write_record(106, v2_record(Domid{static_cast<uint16_t>(dom_.value + 1)}, uuid, 0, 106));
  write_record(107, "");
  ASSERT_TRUE(start_dm()) << log();
  const std::string l = log();
  const std::string prefix =
      "ioreq server record " + (records() / ("dom" + std::to_string(dom_.value) + "-")).string();
  for (const auto& [pid, why] : std::vector<std::pair<int, std::string>>{
           {101, "truncated (3 of 5 lines)"},
           {102, "truncated (the last line is incomplete)"},
           {103, "line 1: expected 'xvgpu-ioreq-server-record ...', found '"},
           {104, "version 9; this xvgpu-dm reads versions 1 and 2"},
           {105, "larger than 4096 bytes: not a record"},
           {106, "names domain " + std::to_string(dom_.value + 1) + ", pid 106 but its file name domain " +
                     std::to_string(dom_.value) + ", pid 106"},
           {107, "empty"}}) {
    std::string line = prefix;
    line += std::to_string(pid);
    line += " refused and removed: ";
    line += why;
    EXPECT_NE(l.find(line), std::string::npos) << line << "\n" << l;
  }
  EXPECT_EQ(l.find("destroyed ioreq server"), std::string::npos) << l;
  EXPECT_TRUE(echo_serves());
  expect_dm_serves_and_exits_cleanly();  // the refused files are gone too
}

}  // namespace
}  // namespace xvgpu::faults
