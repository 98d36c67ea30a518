#include "gpu/knob_value.h"

#include <gtest/gtest.h>

#include "common/error.h"

namespace xvgpu::gpu {
namespace {

KnobInfo int_knob() {
  KnobInfo k;
  k.name = "weight";
  k.type = KnobType::Int;
  k.min = 1;
  k.max = 100;
  return k;
}

TEST(KnobValue, IntegerRange) {
  const auto k = int_knob();
  EXPECT_EQ(parse_knob_value(k, "1").integer, 1);
  EXPECT_EQ(parse_knob_value(k, "100").integer, 100);
  EXPECT_THROW(parse_knob_value(k, "0"), Error);
  EXPECT_THROW(parse_knob_value(k, "101"), Error);
  EXPECT_THROW(parse_knob_value(k, "5x"), Error);
  EXPECT_THROW(parse_knob_value(k, ""), Error);
  try {
    parse_knob_value(k, "0");
  } catch (const Error& e) {
    EXPECT_STREQ(e.what(), "invalid value '0' for knob 'weight': expected an integer in 1..100");
  }
}

TEST(KnobValue, EnumBoolString) {
  KnobInfo e;
  e.name = "priority";
  e.type = KnobType::Enum;
  e.choices = {"background", "foreground"};
  EXPECT_EQ(parse_knob_value(e, "foreground").integer, 1);
  EXPECT_THROW(parse_knob_value(e, "middle"), Error);
  EXPECT_EQ(format_knob_value(e, KnobValue{1, ""}), "foreground");
  KnobInfo b;
  b.name = "turbo";
  b.type = KnobType::Bool;
  EXPECT_EQ(parse_knob_value(b, "on").integer, 1);
  EXPECT_EQ(parse_knob_value(b, "false").integer, 0);
  EXPECT_THROW(parse_knob_value(b, "2"), Error);
  KnobInfo s;
  s.name = "label";
  s.type = KnobType::String;
  s.max = 4;
  EXPECT_EQ(parse_knob_value(s, "abcd").text, "abcd");
  EXPECT_THROW(parse_knob_value(s, "abcde"), Error);
}

}  // namespace
}  // namespace xvgpu::gpu
