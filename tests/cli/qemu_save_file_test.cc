// The vGPU state behind qemu-xen's in libxl's device-model save file: appended through the
// descriptor libxl passed, split apart again on restore.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "common/error.h"
#include "ctl/qemu_save_file.h"
#include "support/temp_dir.h"

namespace xvgpu::ctl {
namespace {

std::string slurp(const std::filesystem::path& p) {
  std::ifstream f(p, std::ios::binary);
  std::stringstream s;
  s << f.rdbuf();
  return s.str();
}
void put(const std::filesystem::path& p, const std::string& bytes) {
  std::ofstream f(p, std::ios::binary | std::ios::trunc);
  f << bytes;
}

TEST(QemuSaveFile, AppendedStateSplitsBackIntoBothParts) {
  TempDir dir("xvgpu-qemu-save-");
  std::string qemu(70000, '\0');
  for (size_t i = 0; i < qemu.size(); ++i) qemu[i] = static_cast<char>(i * 7);
  std::string vgpu(3 << 20, '\0');
  for (size_t i = 0; i < vgpu.size(); ++i) vgpu[i] = static_cast<char>(i * 13 + 1);
  put(dir.path() / "qemu-save", qemu);
  put(dir.path() / "state", vgpu);
  // As libxl opens it (O_WRONLY, no O_APPEND), its offset wherever qemu-xen left it.
  const int fd = ::open((dir.path() / "qemu-save").c_str(), O_WRONLY);
  ASSERT_GE(fd, 0);
  append_vgpu_state(fd, (dir.path() / "state").string());
  ::close(fd);
  EXPECT_EQ(std::filesystem::file_size(dir.path() / "qemu-save"), qemu.size() + vgpu.size() + 16);
  ASSERT_TRUE(split_vgpu_state((dir.path() / "qemu-save").string(), (dir.path() / "q").string(),
                               (dir.path() / "v").string()));
  EXPECT_TRUE(slurp(dir.path() / "q") == qemu);
  EXPECT_TRUE(slurp(dir.path() / "v") == vgpu);
}

TEST(QemuSaveFile, AFileWithoutVgpuStateIsSaidSoAndALyingTrailerRefused) {
  TempDir dir("xvgpu-qemu-save-");
  put(dir.path() / "plain", std::string(1000, 'q'));
  EXPECT_FALSE(split_vgpu_state((dir.path() / "plain").string(), (dir.path() / "q").string(),
                                (dir.path() / "v").string()));
  EXPECT_FALSE(std::filesystem::exists(dir.path() / "q"));
  std::string lying(100, 'q');
  const uint64_t n = 1000;
  lying.append(reinterpret_cast<const char*>(&n), sizeof n);
  lying += "XVGPUQST";
  put(dir.path() / "lying", lying);
  try {
    split_vgpu_state((dir.path() / "lying").string(), (dir.path() / "q").string(),
                     (dir.path() / "v").string());
    FAIL() << "a trailer claiming more than the file holds was accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("claims 1000 bytes, the file has 116"), std::string::npos)
        << e.what();
  }
}

}  // namespace
}  // namespace xvgpu::ctl
