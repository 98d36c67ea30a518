#include "ctl/qemu_save_file.h"

#include <fmt/format.h>
#include <unistd.h>

#include <cerrno>

#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <vector>

#include "common/error.h"

namespace xvgpu::ctl {

namespace {

constexpr char kTrailerMagic[8] = {'X', 'V', 'G', 'P', 'U', 'Q', 'S', 'T'};
constexpr size_t kTrailerBytes = 8 + sizeof kTrailerMagic;

// Copies n bytes from in to out in pieces.
void copy(std::ifstream& in, std::ofstream& out, uint64_t n, const std::string& what) {
  std::vector<char> buf(1 << 20);
  while (n > 0) {
    const auto piece = static_cast<std::streamsize>(std::min<uint64_t>(n, buf.size()));
    in.read(buf.data(), piece);
    if (in.gcount() != piece) throw Error(what + ": file ends early");
    out.write(buf.data(), piece);
    if (!out) throw Error(what + ": write failed");
    n -= static_cast<uint64_t>(piece);
  }
}

}  // namespace

void append_vgpu_state(int fd, const std::string& state) {
  std::ifstream in(state, std::ios::binary);
  if (!in) throw Error("vGPU state " + state + ": cannot open");
  const uint64_t n = std::filesystem::file_size(state);
  if (::lseek(fd, 0, SEEK_END) < 0) throw SystemError(errno, "QEMU save file: lseek");
  auto put = [fd](const char* p, size_t len) {
    while (len > 0) {
      const ssize_t w = ::write(fd, p, len);
      if (w < 0 && errno == EINTR) continue;
      if (w <= 0) throw SystemError(w < 0 ? errno : EIO, "appending the vGPU state to QEMU's save file");
      p += w;
      len -= static_cast<size_t>(w);
    }
  };
  std::vector<char> buf(1 << 20);
  for (uint64_t left = n; left > 0;) {
    const auto piece = static_cast<std::streamsize>(std::min<uint64_t>(left, buf.size()));
    in.read(buf.data(), piece);
    if (in.gcount() != piece) throw Error("vGPU state " + state + ": file ends early");
    put(buf.data(), static_cast<size_t>(piece));
    left -= static_cast<uint64_t>(piece);
  }
  put(reinterpret_cast<const char*>(&n), sizeof n);
  put(kTrailerMagic, sizeof kTrailerMagic);
  if (::fsync(fd) != 0) throw SystemError(errno, "QEMU save file: fsync");
}

bool split_vgpu_state(const std::string& in_path, const std::string& qemu_out, const std::string& vgpu_out) {
  std::ifstream in(in_path, std::ios::binary);
  if (!in) throw Error("saved device-model file " + in_path + ": cannot open");
  const uint64_t size = std::filesystem::file_size(in_path);
  if (size < kTrailerBytes) return false;
  char trailer[kTrailerBytes];
  in.seekg(static_cast<std::streamoff>(size - kTrailerBytes));
  in.read(trailer, kTrailerBytes);
  if (std::memcmp(trailer + 8, kTrailerMagic, sizeof kTrailerMagic) != 0) return false;
  uint64_t n = 0;
  std::memcpy(&n, trailer, sizeof n);
  if (n > size - kTrailerBytes) {
    throw Error(fmt::format("saved device-model file {}: its vGPU state claims {} bytes, the file has {}",
                            in_path, n, size));
  }
  const uint64_t qemu_bytes = size - kTrailerBytes - n;
  in.seekg(0);
  {
    std::ofstream q(qemu_out, std::ios::binary | std::ios::trunc);
    copy(in, q, qemu_bytes, "QEMU's part of " + in_path);
  }
  {
    std::ofstream v(vgpu_out, std::ios::binary | std::ios::trunc);
    copy(in, v, n, "the vGPU part of " + in_path);
  }
  return true;
}

}  // namespace xvgpu::ctl
