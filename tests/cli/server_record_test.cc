// The ioreq-server records of xvgpu-dm (src/dm/server_record.h): their format, which records a
// successor finds stale, and what it does with each (judge_stale_server). Stale records are
// made the way a SIGKILL leaves them: a forked child publishes one and _exits without its
// destructor.
#include "dm/server_record.h"

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <map>
#include <sstream>

#include "common/error.h"

namespace xvgpu::dm {
namespace {

namespace fs = std::filesystem;

constexpr DomainHandle kA{0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x47, 0x88,
                          0x99, 0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff, 0x00};
constexpr DomainHandle kB{0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x47, 0x88,
                          0x99, 0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff, 0x01};
const Domid kDom{7};

std::string slurp(const fs::path& p) {
  std::ifstream f(p, std::ios::binary);
  std::stringstream s;
  s << f.rdbuf();
  return s.str();
}

std::string parse_error(std::string_view text, Domid d = kDom, long pid = 42) {
  try {
    parse_server_record(text, d, pid);
  } catch (const Error& e) {
    return e.what();
  }
  return "(accepted)";
}

TEST(ServerRecordFormat, HandlesPrintAndParseAsUuids) {
  EXPECT_EQ(to_string(kA), "11223344-5566-4788-99aa-bbccddeeff00");
  EXPECT_EQ(parse_domain_handle("11223344-5566-4788-99AA-bbccddeeff00"), kA);
  for (const char* bad : {"", "11223344556647889", "11223344-5566-4788-99aa-bbccddeeff0",
                          "11223344-5566-4788-99aa-bbccddeeff0g", "1122334405566-4788-99aa-bbccddeeff00",
                          "11223344-5566-4788-99aa-bbccddeeff00 "}) {
    EXPECT_FALSE(parse_domain_handle(bad).has_value()) << bad;
  }
}

TEST(ServerRecordFormat, Version2RoundTrips) {
  const std::string text = format_server_record({2, kDom, kA, 3, 42});
  EXPECT_EQ(text,
            "xvgpu-ioreq-server-record 2\ndomid 7\ndomain-handle 11223344-5566-4788-99aa-bbccddeeff00\n"
            "server-id 3\npid 42\n");
  const auto r = parse_server_record(text, kDom, 42);
  EXPECT_EQ(r.version, 2u);
  EXPECT_EQ(r.domid, kDom);
  EXPECT_EQ(r.domain, kA);
  EXPECT_EQ(r.server_id, 3);
  EXPECT_EQ(r.pid, 42);
  EXPECT_FALSE(r.released);
}

TEST(ServerRecordFormat, Version1IsReadWithoutAHandle) {
  const auto r = parse_server_record("5\n", kDom, 42);
  EXPECT_EQ(r.version, 1u);
  EXPECT_EQ(r.server_id, 5);
  EXPECT_FALSE(r.domain.has_value());
  EXPECT_EQ(parse_error("65536\n"), "line 1: expected 'xvgpu-ioreq-server-record ...', found '65536'");
}

TEST(ServerRecordFormat, CorruptAndTruncatedRecordsAreRefusedSayingWhy) {
  const std::string good = format_server_record({2, kDom, kA, 3, 42});
  EXPECT_EQ(parse_error(""), "empty (its writer died before finishing it)");
  EXPECT_EQ(parse_error(good.substr(0, good.size() - 1)), "truncated (the last line is incomplete)");
  EXPECT_EQ(parse_error(good.substr(0, good.find("server-id"))), "truncated (3 of 5 lines)");
  EXPECT_EQ(parse_error(good + "extra 1\n"), "more than 5 lines");
  EXPECT_EQ(parse_error("xvgpu-ioreq-server-record 3\n"), "version 3; this xvgpu-dm reads versions 1 and 2");
  EXPECT_EQ(parse_error("xvgpu-ioreq-server-record two\n"),
            "line 1: 'xvgpu-ioreq-server-record two' has no version number");
  EXPECT_EQ(parse_error(std::string("\x01\xff garbage\n", 11)),
            "line 1: expected 'xvgpu-ioreq-server-record ...', found '\\x01\\xff garbage'");
  EXPECT_EQ(parse_error(std::string(5000, 'x')), "larger than 4096 bytes: not a record");
  std::string bad_handle = good;
  bad_handle.replace(bad_handle.find("11223344"), 8, "1122334z");
  EXPECT_EQ(parse_error(bad_handle),
            "line 3: 'domain-handle 1122334z-5566-4788-99aa-bbccddeeff00' is not domain-handle <UUID>");
  std::string bad_id = good;
  bad_id.replace(bad_id.find("server-id 3"), 11, "server-id -3");
  EXPECT_EQ(parse_error(bad_id), "line 4: 'server-id -3' is not server-id <0..65535>");
  std::string swapped = good;
  swapped.replace(swapped.find("pid 42"), 6, "xid 42");
  EXPECT_EQ(parse_error(swapped), "line 5: expected 'pid ...', found 'xid 42'");
  // The text must agree with the file's name.
  EXPECT_EQ(parse_error(good, Domid{8}), "names domain 7, pid 42 but its file name domain 8, pid 42");
  EXPECT_EQ(parse_error(good, kDom, 43), "names domain 7, pid 42 but its file name domain 7, pid 43");
}

TEST(StaleServerVerdict, OnlyTheSameDomainInstanceHasItsServerDestroyed) {
  const StaleServer v2{"f", 1, 0, kA};
  EXPECT_EQ(judge_stale_server(v2, kA), StaleVerdict::destroy);
  EXPECT_EQ(judge_stale_server(v2, kB), StaleVerdict::other_instance);
  EXPECT_EQ(judge_stale_server(v2, std::nullopt), StaleVerdict::domain_gone);
  const StaleServer v1{"f", 1, 0, std::nullopt};
  EXPECT_EQ(judge_stale_server(v1, kA), StaleVerdict::unverifiable);
  EXPECT_EQ(judge_stale_server(v1, std::nullopt), StaleVerdict::domain_gone);
  // A toolstack that gives domains no UUID: equal all-zero handles prove nothing.
  const StaleServer zero{"f", 1, 0, DomainHandle{}};
  EXPECT_EQ(judge_stale_server(zero, DomainHandle{}), StaleVerdict::unverifiable);
}

class StaleRecordScan : public ::testing::Test {
 protected:
  StaleRecordScan() {
    char tmpl[] = "/tmp/xvgpu-records.XXXXXX";
    dir_ = ::mkdtemp(tmpl);
  }
  ~StaleRecordScan() override {
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }
  [[nodiscard]] fs::path records() const { return dir_ / "ioreq-servers"; }
  // Publishes a record in a child that then dies without removing it, as under SIGKILL.
  long killed_record(Domid d, const DomainHandle& h, uint16_t id) {
    const pid_t pid = ::fork();
    if (pid == 0) {
      try {
        const ServerRecord r(dir_, d, h, id);
        ::_exit(0);  // no destructor runs: the record stays, unheld, as after SIGKILL
      } catch (...) {
        ::_exit(1);
      }
    }
    int st = 0;
    ::waitpid(pid, &st, 0);
    EXPECT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    return pid;
  }
  void write(const std::string& name, const std::string& text) {
    fs::create_directories(records());
    std::ofstream(records() / name, std::ios::binary) << text;
  }
  fs::path dir_;
};

TEST_F(StaleRecordScan, ALiveRecordIsNotStaleAndAKilledOneIs) {
  const ServerRecord live(dir_, kDom, kA, 1);
  EXPECT_EQ(slurp(records() / live.name()), format_server_record({2, kDom, kA, 1, ::getpid()}));
  EXPECT_TRUE(find_stale_servers(dir_, kDom).stale.empty());
  const long pid = killed_record(kDom, kA, 0);
  const auto found = find_stale_servers(dir_, kDom);
  ASSERT_EQ(found.stale.size(), 1u);
  EXPECT_EQ(found.stale[0].pid, pid);
  EXPECT_EQ(found.stale[0].id, 0);
  EXPECT_EQ(found.stale[0].domain, kA);
  EXPECT_TRUE(found.refused.empty());
  EXPECT_TRUE(find_stale_servers(dir_, Domid{8}).stale.empty())
      << "another domain's records are not looked at";
  discard_record(found.stale[0]);
  EXPECT_TRUE(find_stale_servers(dir_, kDom).stale.empty());
}

TEST_F(StaleRecordScan, AStaleRecordWhoseIdALiveOneHoldsIsDroppedSilently) {
  killed_record(kDom, kA, 1);
  const ServerRecord live(dir_, kDom, kA, 1);  // Xen gave id 1 again: the old server is gone
  const auto found = find_stale_servers(dir_, kDom);
  EXPECT_TRUE(found.stale.empty());
  EXPECT_TRUE(found.refused.empty());
  size_t files = 0;
  for ([[maybe_unused]] const auto& e : fs::directory_iterator(records())) ++files;
  EXPECT_EQ(files, 1u) << "only the live record is left";
}

TEST_F(StaleRecordScan, ACleanExitLeavesNothingStaleEvenWhenItCannotRemoveTheFile) {
  { const ServerRecord gone(dir_, kDom, kA, 2); }
  EXPECT_TRUE(fs::is_empty(records()));
  // What a clean exit that could not unlink (--runas) leaves: the first line overwritten.
  std::string released = format_server_record({2, kDom, kA, 2, 99});
  released.replace(0, 27, "xvgpu-ioreq-server-released");
  write("dom7-99", released);
  const auto found = find_stale_servers(dir_, kDom);
  EXPECT_TRUE(found.stale.empty());
  EXPECT_TRUE(found.refused.empty());
  EXPECT_FALSE(fs::exists(records() / "dom7-99"));
}

TEST_F(StaleRecordScan, RefusedRecordsAreReportedAndRemovedOthersKept) {
  write("dom7-100", "xvgpu-ioreq-server-record 2\ndomid 7\n");
  write("dom7-101", "0\n");               // version 1: stale, without a handle
  write("dom7-abc", "garbage");           // not a record's name: not touched
  write(".dom7-102.tmp", "xvgpu-ioreq");  // a writer killed before publishing
  fs::create_symlink("/etc/passwd", records() / "dom7-103");
  const auto found = find_stale_servers(dir_, kDom);
  ASSERT_EQ(found.refused.size(), 2u);
  std::map<std::string, std::string> why;
  for (const auto& r : found.refused) why[r.file.filename().string()] = r.why;
  EXPECT_EQ(why["dom7-100"], "truncated (2 of 5 lines)");
  EXPECT_EQ(why["dom7-103"], "a symbolic link, not a record");
  ASSERT_EQ(found.stale.size(), 1u);
  EXPECT_EQ(found.stale[0].pid, 101);
  EXPECT_FALSE(found.stale[0].domain.has_value());
  EXPECT_FALSE(fs::exists(records() / "dom7-100"));
  EXPECT_FALSE(fs::exists(fs::symlink_status(records() / "dom7-103")));
  EXPECT_FALSE(fs::exists(records() / ".dom7-102.tmp"));
  EXPECT_TRUE(fs::exists(records() / "dom7-abc"));
  EXPECT_TRUE(fs::exists("/etc/passwd"));
}

}  // namespace
}  // namespace xvgpu::dm
