#include "control/rom_file.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <vector>

#include "common/error.h"
#include "common/unique_fd.h"

namespace xvgpu::dm {

std::shared_ptr<const gpu::ExpansionRom> load_rom_file(const std::string& path) {
  const auto fail = [&](const std::string& why) { return Error("rom " + path + ": " + why); };
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY));
  if (!fd) throw fail(std::strerror(errno));
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) throw fail(std::strerror(errno));
  if (!S_ISREG(st.st_mode)) throw fail("not a regular file");
  // Bound the read before reading: the image is at most kMaxImageSize; one byte more tells.
  std::vector<uint8_t> bytes(gpu::ExpansionRom::kMaxImageSize + 1);
  size_t got = 0;
  while (got < bytes.size()) {
    const ssize_t n = ::read(fd.get(), bytes.data() + got, bytes.size() - got);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) throw fail(std::strerror(errno));
    if (n == 0) break;
    got += static_cast<size_t>(n);
  }
  bytes.resize(got);
  try {
    return std::make_shared<const gpu::ExpansionRom>(std::move(bytes));
  } catch (const Error& e) {
    throw fail(e.what());
  }
}

std::shared_ptr<const gpu::ExpansionRom> resolve_rom(const std::optional<std::string>& rom,
                                                     const gpu::TypeInfo& type,
                                                     const std::string& default_path) {
  const auto& l = type.layout;
  const bool decodes_memory =
      std::any_of(l.bars.begin(), l.bars.end(), [](const gpu::BarLayout& b) { return !b.io; });
  if (rom && *rom == "off") return nullptr;
  if (rom) {
    if (!decodes_memory)
      throw Error("rom " + *rom + ": type " + type.name + " has no memory BAR to decode a ROM");
    auto image = load_rom_file(*rom);
    if (image->vendor_id() != l.vendor_id || image->device_id() != l.device_id) {
      throw Error(
          fmt::format("rom {}: the ROM is for PCI {}, type {} is {:04x}:{:04x} (a BIOS would not run it)",
                      *rom, image->ids_text(), type.name, l.vendor_id, l.device_id));
    }
    return image;
  }
  if (!decodes_memory || ::access(default_path.c_str(), F_OK) != 0) return nullptr;
  try {
    auto image = load_rom_file(default_path);
    if (image->vendor_id() != l.vendor_id || image->device_id() != l.device_id) return nullptr;
    return image;
  } catch (const Error& e) {
    spdlog::warn("{} (type {} gets no expansion ROM; rom=off silences this)", e.what(), type.name);
    return nullptr;
  }
}

}  // namespace xvgpu::dm
