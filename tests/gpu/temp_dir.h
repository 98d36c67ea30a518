// A temporary directory removed with its contents at scope exit (state dirs for accounting).
#pragma once

#include "support/temp_dir.h"

namespace xvgpu::test {

class TempDir : public xvgpu::TempDir {
 public:
  TempDir() : xvgpu::TempDir("xvgpu-test-") {}
};

}  // namespace xvgpu::test
