#include "dm/server_record.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstdio>

#include "common/error.h"

namespace xvgpu::dm {

namespace {

constexpr std::string_view kMagic = "xvgpu-ioreq-server-record";
// Same length as kMagic + " 2": written over it in place when the record is released.
constexpr std::string_view kReleased = "xvgpu-ioreq-server-released";
static_assert(kReleased.size() == kMagic.size() + 2);
constexpr unsigned kVersion = 2;
constexpr size_t kMaxRecordBytes = 4096;  // a version-2 record is under 150 bytes

std::filesystem::path dir_of(const std::filesystem::path& state_dir) {
  return state_dir / "ioreq-servers";
}

std::string name_of(Domid domid, long pid) {
  return "dom" + std::to_string(domid.value) + "-" + std::to_string(pid);
}

// A decimal number of at most max, digits only (no sign, no spaces).
std::optional<unsigned long> parse_decimal(std::string_view s, unsigned long max) {
  unsigned long v = 0;
  if (s.empty() || s.size() > 10 ||
      !std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    return std::nullopt;
  }
  const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || end != s.data() + s.size() || v > max) {
    return std::nullopt;
  }
  return v;
}

// "dom<D>-<pid>" -> pid, or 0 when the name is not a record of domid.
long pid_of(std::string_view name, Domid domid) {
  const std::string prefix = "dom" + std::to_string(domid.value) + "-";
  if (name.substr(0, prefix.size()) != prefix) return 0;
  const auto pid = parse_decimal(name.substr(prefix.size()), 0x7fffffff);
  return pid && *pid > 0 ? static_cast<long>(*pid) : 0;
}

// Part of a record's text, printable and short, for an error message.
std::string quoted(std::string_view s) {
  std::string out = "'";
  for (const char c : s.substr(0, 64)) {
    if (c >= 0x20 && c < 0x7f) {
      out += c;
    } else {
      char hex[8];
      (void)std::snprintf(hex, sizeof hex, "\\x%02x", static_cast<unsigned char>(c));
      out += hex;
    }
  }
  return out + (s.size() > 64 ? "...'" : "'");
}

// "key value" -> value, or throws naming the line.
std::string_view value_of(std::string_view line, std::string_view key, size_t lineno) {
  if (line.size() <= key.size() || line.substr(0, key.size()) != key || line[key.size()] != ' ') {
    throw Error("line " + std::to_string(lineno) + ": expected '" + std::string(key) + " ...', found " +
                quoted(line));
  }
  return line.substr(key.size() + 1);
}

unsigned long number_of(std::string_view line, std::string_view key, size_t lineno, unsigned long max) {
  const auto v = parse_decimal(value_of(line, key, lineno), max);
  if (!v) {
    throw Error("line " + std::to_string(lineno) + ": " + quoted(line) + " is not " + std::string(key) +
                " <0.." + std::to_string(max) + ">");
  }
  return *v;
}

bool is_zero(const DomainHandle& h) {
  return std::all_of(h.begin(), h.end(), [](uint8_t b) { return b == 0; });
}

// Up to kMaxRecordBytes + 1 bytes of the file (one more tells "too large").
std::string read_bounded(int fd) {
  std::string text(kMaxRecordBytes + 1, '\0');
  size_t got = 0;
  while (got < text.size()) {
    const ssize_t n = ::pread(fd, text.data() + got, text.size() - got, static_cast<off_t>(got));
    if (n < 0 && errno == EINTR) continue;
    check_errno(n, "reading");
    if (n == 0) break;
    got += static_cast<size_t>(n);
  }
  text.resize(got);
  return text;
}

void remove_quietly(const std::filesystem::path& p) {
  std::error_code ec;
  std::filesystem::remove(p, ec);
}

}  // namespace

std::string to_string(const DomainHandle& h) {
  char out[37];
  (void)std::snprintf(out, sizeof out, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
                      h[0], h[1], h[2], h[3], h[4], h[5], h[6], h[7], h[8], h[9], h[10], h[11], h[12], h[13],
                      h[14], h[15]);
  return out;
}

std::optional<DomainHandle> parse_domain_handle(std::string_view text) {
  if (text.size() != 36) return std::nullopt;
  DomainHandle h{};
  size_t nibble = 0;
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (i == 8 || i == 13 || i == 18 || i == 23) {
      if (c != '-') return std::nullopt;
      continue;
    }
    int v = 0;
    if (c >= '0' && c <= '9') {
      v = c - '0';
    } else if (c >= 'a' && c <= 'f') {
      v = c - 'a' + 10;
    } else if (c >= 'A' && c <= 'F') {
      v = c - 'A' + 10;
    } else {
      return std::nullopt;
    }
    h[nibble / 2] = static_cast<uint8_t>(h[nibble / 2] | (nibble % 2 == 0 ? v << 4 : v));
    ++nibble;
  }
  return h;
}

std::string format_server_record(const ServerRecordContents& r) {
  return std::string(kMagic) + " " + std::to_string(kVersion) + "\n" + "domid " +
         std::to_string(r.domid.value) + "\n" + "domain-handle " +
         to_string(r.domain.value_or(DomainHandle{})) + "\n" + "server-id " + std::to_string(r.server_id) +
         "\n" + "pid " + std::to_string(r.pid) + "\n";
}

ServerRecordContents parse_server_record(std::string_view text, Domid domid, long pid) {
  if (text.empty()) {
    throw Error("empty (its writer died before finishing it)");
  }
  if (text.size() > kMaxRecordBytes) {
    throw Error("larger than " + std::to_string(kMaxRecordBytes) + " bytes: not a record");
  }
  if (text.back() != '\n') {
    throw Error("truncated (the last line is incomplete)");
  }
  std::vector<std::string_view> lines;
  for (size_t at = 0; at < text.size();) {
    const size_t nl = text.find('\n', at);
    lines.push_back(text.substr(at, nl - at));
    at = nl + 1;
  }
  ServerRecordContents r;
  r.domid = domid;
  r.pid = pid;
  if (lines[0] == kReleased) {
    r.released = true;
    return r;
  }
  // Version 1: the server id alone (written by xvgpu-dm before domain handles were recorded).
  if (lines.size() == 1) {
    if (const auto id = parse_decimal(lines[0], 0xffff)) {
      r.version = 1;
      r.server_id = static_cast<uint16_t>(*id);
      return r;
    }
  }
  const std::string_view version = value_of(lines[0], kMagic, 1);
  const auto v = parse_decimal(version, 0xffffffff);
  if (!v) {
    throw Error("line 1: " + quoted(lines[0]) + " has no version number");
  }
  if (*v != kVersion) {
    throw Error("version " + std::to_string(*v) + "; this xvgpu-dm reads versions 1 and 2");
  }
  if (lines.size() < 5) {
    throw Error("truncated (" + std::to_string(lines.size()) + " of 5 lines)");
  }
  if (lines.size() > 5) {
    throw Error("more than 5 lines");
  }
  const auto d = number_of(lines[1], "domid", 2, 0xffff);
  const auto handle = parse_domain_handle(value_of(lines[2], "domain-handle", 3));
  if (!handle) {
    throw Error("line 3: " + quoted(lines[2]) + " is not domain-handle <UUID>");
  }
  const auto id = number_of(lines[3], "server-id", 4, 0xffff);
  const auto p = number_of(lines[4], "pid", 5, 0x7fffffff);
  if (d != domid.value || static_cast<long>(p) != pid) {
    throw Error("names domain " + std::to_string(d) + ", pid " + std::to_string(p) +
                " but its file name domain " + std::to_string(domid.value) + ", pid " + std::to_string(pid));
  }
  r.domain = *handle;
  r.server_id = static_cast<uint16_t>(id);
  return r;
}

StaleRecords find_stale_servers(const std::filesystem::path& state_dir, Domid domid) {
  StaleRecords out;
  struct Live {
    uint16_t id;
    std::optional<DomainHandle> domain;
  };
  std::vector<Live> live;
  std::error_code ec;
  for (auto it = std::filesystem::directory_iterator(dir_of(state_dir), ec);
       !ec && it != std::filesystem::directory_iterator(); it.increment(ec)) {
    const std::string name = it->path().filename().string();
    // ".dom<D>-<pid>.tmp": a record its writer did not live to publish (nothing to act on).
    if (name.size() > 5 && name.front() == '.' && name.ends_with(".tmp") &&
        pid_of(std::string_view(name).substr(1, name.size() - 5), domid) != 0) {
      const UniqueFd fd(::open(it->path().c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK));
      if (fd && ::flock(fd.get(), LOCK_EX | LOCK_NB) == 0) remove_quietly(it->path());
      continue;
    }
    const long pid = pid_of(name, domid);
    if (pid == 0) continue;
    // O_NONBLOCK: a FIFO in its place must not stall the start; it is refused below.
    const UniqueFd fd(::open(it->path().c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK));
    if (!fd) {
      if (errno == ELOOP) {
        out.refused.push_back({it->path(), "a symbolic link, not a record"});
        remove_quietly(it->path());
      }
      continue;  // removed meanwhile
    }
    // Unheld: its writer died. Held exclusively while we judge it, so that two successors do
    // not both act on it.
    const bool held = ::flock(fd.get(), LOCK_EX | LOCK_NB) != 0;
    struct stat st {};
    if (::fstat(fd.get(), &st) != 0) continue;
    if (!held && st.st_nlink == 0) continue;  // its owner exited cleanly and removed it meanwhile
    ServerRecordContents r;
    try {
      if (!S_ISREG(st.st_mode)) throw Error("not a regular file");
      r = parse_server_record(read_bounded(fd.get()), domid, pid);
    } catch (const std::exception& e) {
      if (!held) {
        out.refused.push_back({it->path(), e.what()});
        remove_quietly(it->path());
      }
      continue;  // a live device model's record is its own business
    }
    if (r.released) {
      if (!held) remove_quietly(it->path());
    } else if (held) {
      live.push_back({r.server_id, r.domain});
    } else {
      out.stale.push_back({it->path(), pid, r.server_id, r.domain});
    }
  }
  // Xen gives a server id again only once its server is gone: a live record with the stale
  // one's id (on the same instance, or where one side does not say which) means nothing is
  // left to remove.
  std::erase_if(out.stale, [&](const StaleServer& s) {
    const bool shadowed = std::any_of(live.begin(), live.end(), [&](const Live& l) {
      return l.id == s.id && (!l.domain || !s.domain || *l.domain == *s.domain);
    });
    if (shadowed) remove_quietly(s.file);
    return shadowed;
  });
  return out;
}

StaleVerdict judge_stale_server(const StaleServer& s, const std::optional<DomainHandle>& live) {
  if (!live) {
    return StaleVerdict::domain_gone;
  }
  // A version-1 record names the domid only. Destroying on that alone could remove another
  // device model's server on a later domain with the same domid (qemu-xen's, say); leaving a
  // server of the same instance costs at most a guest blocked on INVALIDATE, which the operator
  // sees (warning below, hung vCPU) and ends by restarting the domain. The harm of a wrong
  // destroy is silent and lands on someone else, so the record is not trusted. The same goes
  // for an all-zero handle: a toolstack that gives domains no UUID leaves every one with it.
  if (!s.domain || is_zero(*s.domain)) {
    return StaleVerdict::unverifiable;
  }
  return *s.domain == *live ? StaleVerdict::destroy : StaleVerdict::other_instance;
}

void discard_record(const StaleServer& s) {
  remove_quietly(s.file);
}

ServerRecord::ServerRecord(const std::filesystem::path& state_dir, Domid domid, const DomainHandle& domain,
                           uint16_t id) {
  std::error_code ec;
  std::filesystem::create_directories(dir_of(state_dir), ec);
  const long pid = ::getpid();
  const std::string name = name_of(domid, pid);
  const auto tmp = dir_of(state_dir) / ("." + name + ".tmp");
  const auto file = dir_of(state_dir) / name;
  dir_.reset(::open(dir_of(state_dir).c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  check_errno(dir_.get(), "opening " + dir_of(state_dir).string());
  fd_.reset(::open(tmp.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600));
  check_errno(fd_.get(), "creating " + tmp.string());
  try {
    check_errno(::flock(fd_.get(), LOCK_EX | LOCK_NB), "locking " + tmp.string());
    const std::string text = format_server_record({kVersion, domid, domain, id, pid});
    const ssize_t n = ::write(fd_.get(), text.data(), text.size());
    check_errno(n, "writing " + tmp.string());
    if (static_cast<size_t>(n) != text.size()) throw SystemError(ENOSPC, "writing " + tmp.string());
    // The lock goes with the file: the published record is held from its first moment.
    check_errno(::rename(tmp.c_str(), file.c_str()), "publishing " + file.string());
  } catch (...) {
    remove_quietly(tmp);
    throw;
  }
  name_ = name;
}

ServerRecord::~ServerRecord() {
  // Marked released first, through the descriptor held since before --runas: after dropping
  // root the name may not be removable, and an unmarked record would look like a killed
  // device model's, whose server id a successor would destroy (by then maybe someone else's).
  (void)::pwrite(fd_.get(), kReleased.data(), kReleased.size(), 0);
  (void)::unlinkat(dir_.get(), name_.c_str(), 0);
}

}  // namespace xvgpu::dm
