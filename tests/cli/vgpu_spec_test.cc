#include "control/vgpu_spec.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

namespace xvgpu {
namespace {

constexpr const char* kUuid = "6f1c5b2e-1d3a-4c5b-9e7f-0a1b2c3d4e5f";

TEST(VgpuSpec, ParsesAllFields) {
  const auto s =
      VgpuSpec::parse(std::string("uuid=6F1C5B2E-1D3A-4C5B-9E7F-0A1B2C3D4E5F,type=simgpu-64,bdf=00:05.0,"
                                  "weight=200,label=x"));
  EXPECT_EQ(s.uuid, kUuid);  // canonical lower case
  EXPECT_EQ(s.type, "simgpu-64");
  ASSERT_TRUE(s.bdf.has_value());
  EXPECT_EQ(s.bdf->dev, 5);
  ASSERT_EQ(s.knobs.size(), 2u);
  EXPECT_EQ(s.knobs[0], (std::pair<std::string, std::string>{"weight", "200"}));
  EXPECT_EQ(s.knobs[1].first, "label");
}

TEST(VgpuSpec, RoundTripsThroughTextAndJson) {
  const auto s = VgpuSpec::parse(std::string("type=simgpu-16,uuid=") + kUuid + ",bdf=00:1e.0,weight=3");
  EXPECT_EQ(VgpuSpec::parse(s.to_string()), s);
  EXPECT_EQ(VgpuSpec::from_json(s.to_json()), s);
  EXPECT_EQ(s.to_string(), std::string("uuid=") + kUuid + ",type=simgpu-16,bdf=00:1e.0,weight=3");
}

TEST(VgpuSpec, RomIsAnAbsolutePathOrOff) {
  const auto off = VgpuSpec::parse(std::string("uuid=") + kUuid + ",type=simgpu-16,rom=off");
  EXPECT_EQ(off.rom, "off");
  const auto path =
      VgpuSpec::parse(std::string("uuid=") + kUuid + ",type=simgpu-16,rom=/srv/vga.bin,weight=3");
  EXPECT_EQ(path.rom, "/srv/vga.bin");
  EXPECT_EQ(path.knobs.size(), 1u) << "rom is no knob";
  EXPECT_EQ(VgpuSpec::parse(path.to_string()), path);
  EXPECT_EQ(VgpuSpec::from_json(path.to_json()), path);
  EXPECT_FALSE(VgpuSpec::parse(std::string("uuid=") + kUuid + ",type=simgpu-16").rom)
      << "absent: the default";
}

struct BadSpec {
  const char* text;
  const char* message_part;
};

class VgpuSpecBad : public ::testing::TestWithParam<BadSpec> {};

TEST_P(VgpuSpecBad, IsRefusedNamingTheField) {
  try {
    VgpuSpec::parse(GetParam().text);
    FAIL() << "accepted " << GetParam().text;
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(GetParam().message_part), std::string::npos) << e.what();
  }
}

INSTANTIATE_TEST_SUITE_P(
    All, VgpuSpecBad,
    ::testing::Values(
        BadSpec{"", "empty"}, BadSpec{"type=simgpu-64", "missing uuid"},
        BadSpec{"uuid=6f1c5b2e-1d3a-4c5b-9e7f-0a1b2c3d4e5f", "missing type"},
        BadSpec{"uuid=not-a-uuid,type=t", "not a UUID"},
        BadSpec{"uuid=6f1c5b2e-1d3a-4c5b-9e7f-0a1b2c3d4e5fff,type=t", "not a UUID"},
        BadSpec{"uuid=6f1c5b2e-1d3a-4c5b-9e7f-0a1b2c3d4e5f,type=t,bdf=00:20.0", "bdf"},
        BadSpec{"uuid=6f1c5b2e-1d3a-4c5b-9e7f-0a1b2c3d4e5f,type=t,bdf=zz", "bdf"},
        BadSpec{"uuid=6f1c5b2e-1d3a-4c5b-9e7f-0a1b2c3d4e5f,type=t,type=u", "type given twice"},
        BadSpec{"uuid=6f1c5b2e-1d3a-4c5b-9e7f-0a1b2c3d4e5f,type=t,w=1,w=2", "knob 'w' given twice"},
        BadSpec{"uuid=6f1c5b2e-1d3a-4c5b-9e7f-0a1b2c3d4e5f,type=t,novalue", "key=value"},
        BadSpec{"uuid=6f1c5b2e-1d3a-4c5b-9e7f-0a1b2c3d4e5f,type=t,w=", "empty value"},
        BadSpec{"uuid=6f1c5b2e-1d3a-4c5b-9e7f-0a1b2c3d4e5f,type=a b", "type name"},
        BadSpec{"uuid=6f1c5b2e-1d3a-4c5b-9e7f-0a1b2c3d4e5f,type=t,", "key=value"},
        BadSpec{"uuid=6f1c5b2e-1d3a-4c5b-9e7f-0a1b2c3d4e5f,type=t,rom=vga.bin",
                "rom 'vga.bin' must be an absolute path or off"},
        BadSpec{"uuid=6f1c5b2e-1d3a-4c5b-9e7f-0a1b2c3d4e5f,type=t,rom=off,rom=/a", "rom given twice"}),
    // Stable names: ctest registers each case by name, so the name must not depend on addresses.
    [](const ::testing::TestParamInfo<BadSpec>& case_info) {
      return "case" + std::to_string(case_info.index);
    });

TEST(CanonicalUuid, AcceptsOnlyTheDashedForm) {
  EXPECT_EQ(canonical_uuid("6F1C5B2E-1D3A-4C5B-9E7F-0A1B2C3D4E5F"), kUuid);
  EXPECT_FALSE(canonical_uuid("6f1c5b2e1d3a4c5b9e7f0a1b2c3d4e5f"));
  EXPECT_FALSE(canonical_uuid("6f1c5b2e-1d3a-4c5b-9e7f-0a1b2c3d4e5g"));
}

}  // namespace
}  // namespace xvgpu
