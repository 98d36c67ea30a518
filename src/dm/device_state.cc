#include "dm/device_state.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "common/error.h"
#include "common/unique_fd.h"

namespace xvgpu::dm {

namespace {

constexpr char kMagic[8] = {'X', 'V', 'G', 'P', 'U', 'D', 'M', 'S'};
constexpr size_t kHeaderBytes = sizeof kMagic + 4 + 8;
constexpr size_t kMaxRegions = 4096;
constexpr size_t kMaxVgpus = 256;
constexpr size_t kMaxName = 256;
constexpr uint64_t kMaxFileBytes = uint64_t{64} << 30;

uint32_t crc_of(std::span<const uint8_t> b) {
  uint32_t crc = 0;
  while (!b.empty()) {
    const auto chunk = static_cast<uInt>(std::min<size_t>(b.size(), 1U << 30));
    crc = static_cast<uint32_t>(crc32(crc, b.data(), chunk));
    b = b.subspan(chunk);
  }
  return crc;
}

class Out {
 public:
  template <typename T>
  void num(T v) {
    const auto* p = reinterpret_cast<const uint8_t*>(&v);
    bytes({p, sizeof v});
  }
  void bytes(std::span<const uint8_t> b) { buf.insert(buf.end(), b.begin(), b.end()); }
  void str(const std::string& s) {
    num(static_cast<uint32_t>(s.size()));
    bytes({reinterpret_cast<const uint8_t*>(s.data()), s.size()});
  }
  std::vector<uint8_t> buf;
};

// Reads the records; every field is bounded by what is left.
class In {
 public:
  explicit In(std::span<const uint8_t> b) : b_(b) {}
  std::span<const uint8_t> take(uint64_t n, const char* what) {
    if (n > b_.size() - at_) {
      throw Error(
          fmt::format("device state is corrupt: {} of {} bytes at record offset {} runs past the "
                      "records' end ({} bytes)",
                      what, n, at_, b_.size()));
    }
    auto out = b_.subspan(at_, n);
    at_ += n;
    return out;
  }
  template <typename T>
  T num(const char* what) {
    T v{};
    std::memcpy(&v, take(sizeof v, what).data(), sizeof v);
    return v;
  }
  std::string str(const char* what) {
    const auto n = num<uint32_t>(what);
    if (n > kMaxName) throw Error(fmt::format("device state is corrupt: {} of {} bytes", what, n));
    auto b = take(n, what);
    return {reinterpret_cast<const char*>(b.data()), b.size()};
  }
  [[nodiscard]] size_t left() const { return b_.size() - at_; }

 private:
  std::span<const uint8_t> b_;
  size_t at_ = 0;
};

}  // namespace

std::vector<uint8_t> encode_device_state(const DeviceState& s) {
  Out body;
  body.num<uint64_t>(s.direct.scratch_gfn);
  body.num<uint64_t>(s.direct.pages);
  body.num(static_cast<uint32_t>(s.direct.regions.size()));
  for (const auto& r : s.direct.regions) {
    body.num<uint64_t>(r.first_page);
    body.num<uint64_t>(r.pages);
    body.num<uint64_t>(r.gfn);
  }
  body.num(static_cast<uint32_t>(s.vgpus.size()));
  for (const auto& v : s.vgpus) {
    body.str(v.uuid);
    body.str(v.type);
    body.num<uint64_t>(v.snapshot.size());
    body.bytes(v.snapshot);
  }
  Out out;
  out.bytes({reinterpret_cast<const uint8_t*>(kMagic), sizeof kMagic});
  out.num(kDeviceStateFormat);
  out.num<uint64_t>(body.buf.size());
  out.bytes(body.buf);
  out.num(crc_of(out.buf));
  return std::move(out.buf);
}

DeviceState decode_device_state(std::span<const uint8_t> bytes) {
  if (bytes.size() < sizeof kMagic || std::memcmp(bytes.data(), kMagic, sizeof kMagic) != 0) {
    throw Error(bytes.size() < sizeof kMagic
                    ? fmt::format("device state is truncated: {} bytes, not even the magic", bytes.size())
                    : std::string("not an xvgpu device state (no XVGPUDMS magic)"));
  }
  if (bytes.size() < kHeaderBytes) {
    throw Error(fmt::format("device state is truncated: {} bytes, shorter than its {}-byte header",
                            bytes.size(), kHeaderBytes));
  }
  uint32_t format = 0;
  uint64_t length = 0;
  std::memcpy(&format, bytes.data() + sizeof kMagic, sizeof format);
  std::memcpy(&length, bytes.data() + sizeof kMagic + 4, sizeof length);
  if (format != kDeviceStateFormat) {
    throw Error(fmt::format("device state format {} is not supported (this xvgpu-dm reads format {})", format,
                            kDeviceStateFormat));
  }
  const uint64_t have = bytes.size() - kHeaderBytes;
  if (length > have || have - length < 4) {
    throw Error(
        fmt::format("device state is truncated: its header announces {} bytes of records and a "
                    "4-byte checksum, {} bytes follow",
                    length, have));
  }
  if (have - length > 4) {
    throw Error(
        fmt::format("device state has {} bytes after its checksum (not one saved state)", have - length - 4));
  }
  const auto covered = bytes.first(kHeaderBytes + length);
  uint32_t stored = 0;
  std::memcpy(&stored, bytes.data() + covered.size(), sizeof stored);
  if (const uint32_t computed = crc_of(covered); stored != computed) {
    throw Error(
        fmt::format("device state is corrupt: checksum {:08x}, its contents give {:08x}", stored, computed));
  }

  In in(covered.subspan(kHeaderBytes));
  DeviceState s;
  s.direct.scratch_gfn = in.num<uint64_t>("the pool's scratch frame");
  s.direct.pages = in.num<uint64_t>("the pool's size");
  const auto n_regions = in.num<uint32_t>("the region count");
  if (n_regions > kMaxRegions) {
    throw Error(fmt::format("device state is corrupt: {} direct memory regions", n_regions));
  }
  uint64_t end_of_last = 0;
  for (uint32_t i = 0; i < n_regions; ++i) {
    ioreq::DirectRegionPlacement r;
    r.first_page = in.num<uint64_t>("a region's first page");
    r.pages = in.num<uint64_t>("a region's size");
    r.gfn = in.num<uint64_t>("a region's frame");
    if (r.pages == 0 || r.first_page < end_of_last || r.first_page > s.direct.pages ||
        r.pages > s.direct.pages - r.first_page || r.gfn > (uint64_t{1} << 40) - r.pages) {
      throw Error(
          fmt::format("device state is corrupt: direct memory region {} (page {}, {} pages at gfn {:#x}) "
                      "is not inside a pool of {} pages after the one before",
                      i, r.first_page, r.pages, r.gfn, s.direct.pages));
    }
    end_of_last = r.first_page + r.pages;
    s.direct.regions.push_back(r);
  }
  const auto n_vgpus = in.num<uint32_t>("the vGPU count");
  if (n_vgpus > kMaxVgpus) throw Error(fmt::format("device state is corrupt: {} vGPUs", n_vgpus));
  for (uint32_t i = 0; i < n_vgpus; ++i) {
    SavedVgpu v;
    v.uuid = in.str("a vGPU's UUID");
    v.type = in.str("a vGPU's type");
    const auto n = in.num<uint64_t>("a vGPU's snapshot length");
    const auto b = in.take(n, "a vGPU's snapshot");
    v.snapshot.assign(b.begin(), b.end());
    s.vgpus.push_back(std::move(v));
  }
  if (in.left() != 0) {
    throw Error(fmt::format("device state is corrupt: {} bytes after the last record", in.left()));
  }
  return s;
}

void write_device_state_file(const std::string& path, std::span<const uint8_t> bytes) {
  const std::string tmp = path + ".tmp";
  UniqueFd fd(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600));
  if (!fd) throw SystemError(errno, "device state " + tmp);
  for (size_t done = 0; done < bytes.size();) {
    const ssize_t n = ::write(fd.get(), bytes.data() + done, bytes.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      const int e = n < 0 ? errno : EIO;
      ::unlink(tmp.c_str());
      throw SystemError(e, "writing device state " + tmp);
    }
    done += static_cast<size_t>(n);
  }
  if (::fsync(fd.get()) != 0 || ::rename(tmp.c_str(), path.c_str()) != 0) {
    const int e = errno;
    ::unlink(tmp.c_str());
    throw SystemError(e, "device state " + path);
  }
}

std::vector<uint8_t> read_device_state_file(const std::string& path) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) throw SystemError(errno, "device state " + path);
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) throw SystemError(errno, "device state " + path);
  if (!S_ISREG(st.st_mode)) throw Error("device state " + path + ": not a regular file");
  if (static_cast<uint64_t>(st.st_size) > kMaxFileBytes) {
    throw Error(fmt::format("device state {}: {} bytes is more than any saved state", path, st.st_size));
  }
  std::vector<uint8_t> out(static_cast<size_t>(st.st_size));
  size_t done = 0;
  while (done < out.size()) {
    const ssize_t n = ::read(fd.get(), out.data() + done, out.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) throw SystemError(errno, "reading device state " + path);
    if (n == 0) break;
    done += static_cast<size_t>(n);
  }
  out.resize(done);  // a file that shrank while read: decode() reports it truncated
  return out;
}

}  // namespace xvgpu::dm
