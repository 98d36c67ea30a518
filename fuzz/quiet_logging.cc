// Linked into every libFuzzer target: logging off, so that throughput is the code's and a long
// run does not fill the disk with the warnings a hostile input is meant to cause.
// XVGPU_FUZZ_LOG=1 keeps the log (when reproducing a finding).
#include <spdlog/spdlog.h>

#include <cstdlib>

extern "C" int LLVMFuzzerInitialize(int* /*argc*/, char*** /*argv*/) {
  const char* keep = std::getenv("XVGPU_FUZZ_LOG");
  if (keep == nullptr || *keep == '\0' || *keep == '0') spdlog::set_level(spdlog::level::off);
  return 0;
}
