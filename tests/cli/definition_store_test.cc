#include "ctl/definition_store.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "control/pidfile.h"
#include "support/temp_dir.h"

namespace xvgpu::ctl {
namespace {

namespace fs = std::filesystem;

class DefinitionStoreTest : public ::testing::Test {
 protected:
  static Definition def(const std::string& uuid, const std::string& type,
                        std::optional<int> dom = std::nullopt) {
    Definition d;
    d.spec = VgpuSpec::parse("uuid=" + uuid + ",type=" + type + ",weight=4");
    if (dom) d.domain = Domid{static_cast<uint16_t>(*dom)};
    return d;
  }
  TempDir tmp_{"xvgpu-defs-"};
  fs::path dir_ = tmp_.path() / "defs";  // the store creates it
};

constexpr const char* kA = "00000000-0000-4000-8000-00000000000a";
constexpr const char* kB = "00000000-0000-4000-8000-00000000000b";

TEST_F(DefinitionStoreTest, DefinitionsPersistAcrossStoreInstances) {
  DefinitionStore(dir_.string()).define(def(kB, "simgpu-16", 4));
  DefinitionStore(dir_.string()).define(def(kA, "simgpu-64"));
  const auto all = DefinitionStore(dir_.string()).list();
  ASSERT_EQ(all.size(), 2u);
  EXPECT_EQ(all[0].spec.uuid, kA);  // sorted
  EXPECT_FALSE(all[0].domain);
  EXPECT_EQ(all[1].spec.type, "simgpu-16");
  EXPECT_EQ(all[1].domain->value, 4);
  EXPECT_EQ(all[1].spec.knobs.at(0).second, "4");
  // Nothing but the two definition files: no temporary left behind.
  EXPECT_EQ(std::distance(fs::directory_iterator(dir_), fs::directory_iterator()), 2);
}

TEST_F(DefinitionStoreTest, TheVmIsStoredByUuidOrNameAndCheckedOnLoad) {
  Definition a = def(kA, "simgpu-64");
  a.vm = VmRef::parse("0E3C3D2A-1111-4222-8333-44445555AAAA");
  a.autostart = true;
  Definition b = def(kB, "simgpu-16");
  b.vm = VmRef::parse("web-01");
  DefinitionStore(dir_.string()).define(a);
  DefinitionStore(dir_.string()).define(b);
  const auto all = DefinitionStore(dir_.string()).list();
  ASSERT_EQ(all.size(), 2u);
  ASSERT_TRUE(all[0].vm);
  EXPECT_EQ(all[0].vm->uuid, "0e3c3d2a-1111-4222-8333-44445555aaaa") << "canonical form";
  EXPECT_TRUE(all[0].vm->name.empty());
  EXPECT_TRUE(all[0].autostart);
  ASSERT_TRUE(all[1].vm);
  EXPECT_EQ(all[1].vm->name, "web-01");
  EXPECT_TRUE(all[1].vm->matches("0e3c3d2a-1111-4222-8333-44445555aaaa", "web-01"));
  EXPECT_FALSE(all[1].vm->matches("0e3c3d2a-1111-4222-8333-44445555aaaa", "web-02"));
  EXPECT_TRUE(all[0].vm->matches("0e3c3d2a-1111-4222-8333-44445555aaaa", "anything"));

  // A definition naming its VM both ways, or by a UUID that is none, is refused on load.
  for (const char* vm : {R"({"uuid": "0e3c3d2a-1111-4222-8333-44445555aaaa", "name": "x"})",
                         R"({"uuid": "nope"})", R"({})", R"("web-01")"}) {
    std::ofstream(dir_ / (std::string(kA) + ".json"))
        << R"({"uuid": ")" << kA << R"(", "type": "simgpu-64", "vm": )" << vm << "}";
    std::vector<std::string> problems;
    EXPECT_EQ(DefinitionStore(dir_.string()).list(&problems).size(), 1u) << vm;
    ASSERT_EQ(problems.size(), 1u) << vm;
    EXPECT_NE(problems[0].find("vm:"), std::string::npos) << problems[0];
  }
  EXPECT_THROW(VmRef::parse(""), Error);
  EXPECT_THROW(VmRef::parse("a/b"), Error);
  EXPECT_THROW(VmRef::parse(std::string(256, 'x')), Error);
}

TEST_F(DefinitionStoreTest, DuplicateRefusedUnlessReplacing) {
  DefinitionStore s(dir_.string());
  s.define(def(kA, "simgpu-64"));
  EXPECT_THROW(s.define(def(kA, "simgpu-16")), Error);
  EXPECT_EQ(s.find(kA)->spec.type, "simgpu-64");  // unchanged
  s.define(def(kA, "simgpu-16"), true);
  EXPECT_EQ(s.find(kA)->spec.type, "simgpu-16");
}

TEST_F(DefinitionStoreTest, UndefineRemovesAndReportsUnknown) {
  DefinitionStore s(dir_.string());
  s.define(def(kA, "simgpu-64"));
  EXPECT_TRUE(s.undefine(kA));
  EXPECT_FALSE(s.undefine(kA));
  EXPECT_FALSE(s.find(kA));
  EXPECT_TRUE(s.list().empty());
}

TEST_F(DefinitionStoreTest, CorruptFilesAreReportedAndSkipped) {
  DefinitionStore s(dir_.string());
  s.define(def(kA, "simgpu-64"));
  std::ofstream(dir_ / (std::string(kB) + ".json")) << "{ not json";
  std::ofstream(dir_ / "README") << "not a definition";
  std::vector<std::string> problems;
  const auto all = s.list(&problems);
  ASSERT_EQ(all.size(), 1u);
  ASSERT_EQ(problems.size(), 1u);
  EXPECT_NE(problems[0].find(kB), std::string::npos);
}

TEST_F(DefinitionStoreTest, FileNameMustMatchUuid) {
  fs::create_directories(dir_);
  std::ofstream(dir_ / (std::string(kB) + ".json")) << def(kA, "simgpu-64").to_json().dump();
  std::vector<std::string> problems;
  EXPECT_TRUE(DefinitionStore(dir_.string()).list(&problems).empty());
  EXPECT_EQ(problems.size(), 1u);
}

TEST_F(DefinitionStoreTest, AtomicWriteReplacesWholeFile) {
  fs::create_directories(dir_);
  const auto p = (dir_ / "f").string();
  atomic_write_file(p, "first version, long");
  atomic_write_file(p, "second");
  std::ifstream in(p);
  std::stringstream ss;
  ss << in.rdbuf();
  EXPECT_EQ(ss.str(), "second");
}

TEST(PidFile, AppearsLockedAndIsRemoved) {
  const auto p = (fs::temp_directory_path() / ("xvgpu-pid-" + std::to_string(::getpid()))).string();
  {
    dm::PidFile pf(p);
    ASSERT_TRUE(fs::exists(p));
    EXPECT_EQ(dm::pidfile_owner(p), ::getpid());
    EXPECT_THROW(dm::PidFile second(p), Error);
  }
  EXPECT_FALSE(fs::exists(p));
  // A stale file (nobody holds the lock) is replaced.
  std::ofstream(p) << "99999\n";
  EXPECT_FALSE(dm::pidfile_owner(p));
  {
    dm::PidFile pf(p);
    EXPECT_EQ(dm::pidfile_owner(p), ::getpid());
  }
  EXPECT_FALSE(fs::exists(p));
}

}  // namespace
}  // namespace xvgpu::ctl
