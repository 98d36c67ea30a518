#include "gpu/vgpu_state.h"

#include <gtest/gtest.h>

namespace xvgpu::gpu {
namespace {

constexpr const char* kUuid = "11111111-2222-3333-4444-555555555555";

TEST(VgpuState, HappyPath) {
  VgpuState s = VgpuState::Defined;
  s = next_state(s, VgpuOp::Create, kUuid);
  EXPECT_EQ(s, VgpuState::Created);
  s = next_state(s, VgpuOp::Start, kUuid);
  EXPECT_EQ(s, VgpuState::Running);
  s = next_state(s, VgpuOp::Reset, kUuid);
  EXPECT_EQ(s, VgpuState::Running);
  s = next_state(s, VgpuOp::Stop, kUuid);
  EXPECT_EQ(s, VgpuState::Stopped);
  s = next_state(s, VgpuOp::Start, kUuid);
  EXPECT_EQ(s, VgpuState::Running);
  s = next_state(s, VgpuOp::Stop, kUuid);
  s = next_state(s, VgpuOp::Destroy, kUuid);
  EXPECT_EQ(s, VgpuState::Destroyed);
}

TEST(VgpuState, EveryWrongTransitionIsAClearError) {
  const VgpuState states[] = {VgpuState::Defined, VgpuState::Created, VgpuState::Running, VgpuState::Stopped,
                              VgpuState::Destroyed};
  const VgpuOp ops[] = {VgpuOp::Create,  VgpuOp::Start, VgpuOp::Stop,   VgpuOp::Reset,
                        VgpuOp::Destroy, VgpuOp::Save,  VgpuOp::Restore};
  int refused = 0;
  for (auto s : states) {
    for (auto op : ops) {
      if (allowed(s, op)) continue;
      ++refused;
      try {
        (void)next_state(s, op, kUuid);
        ADD_FAILURE() << to_string(op) << " from " << to_string(s) << " was accepted";
      } catch (const VgpuStateError& e) {
        const std::string msg = e.what();
        EXPECT_NE(msg.find(kUuid), std::string::npos) << msg;
        EXPECT_NE(msg.find(std::string(to_string(s))), std::string::npos) << msg;
        EXPECT_NE(msg.find(std::string(to_string(op))), std::string::npos) << msg;
        EXPECT_EQ(e.state(), s);
      }
    }
  }
  EXPECT_EQ(refused, 35 - 13);  // 13 allowed (state, op) pairs
}

TEST(VgpuState, DestroyWhileRunningSaysStopFirst) {
  try {
    (void)next_state(VgpuState::Running, VgpuOp::Destroy, kUuid);
    FAIL();
  } catch (const VgpuStateError& e) {
    EXPECT_NE(std::string(e.what()).find("stop it first"), std::string::npos);
  }
}

}  // namespace
}  // namespace xvgpu::gpu
