#include "ctl/definition_store.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>

#include "common/unique_fd.h"

namespace xvgpu::ctl {

namespace fs = std::filesystem;

nlohmann::json Definition::to_json() const {
  nlohmann::json j = spec.to_json();
  j["vm"] = vm ? vm->to_json() : nlohmann::json(nullptr);
  j["domain"] = domain ? nlohmann::json(domain->value) : nlohmann::json(nullptr);
  j["autostart"] = autostart;
  return j;
}

Definition Definition::from_json(const nlohmann::json& j) {
  Definition d;
  d.spec = VgpuSpec::from_json(j);
  if (j.contains("vm") && !j["vm"].is_null()) d.vm = VmRef::from_json(j["vm"]);
  if (j.contains("domain") && !j["domain"].is_null()) {
    const auto v = j["domain"].get<long>();
    if (v <= 0 || v >= 0x7ff0) throw Error("domain " + std::to_string(v) + " out of range");
    d.domain = Domid{static_cast<uint16_t>(v)};
  }
  d.autostart = j.value("autostart", false);
  return d;
}

void atomic_write_file(const std::string& path, const std::string& contents, unsigned mode) {
  const fs::path p(path);
  const fs::path dir = p.parent_path().empty() ? fs::path(".") : p.parent_path();
  std::random_device rd;
  const std::string tmp = (dir / ("." + p.filename().string() + ".tmp" + std::to_string(rd()))).string();
  UniqueFd fd(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode));
  check_errno(fd.get(), "creating " + tmp);
  std::size_t done = 0;
  while (done < contents.size()) {
    const ssize_t n = ::write(fd.get(), contents.data() + done, contents.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      const int e = errno;
      ::unlink(tmp.c_str());
      throw SystemError(e, "writing " + tmp);
    }
    done += static_cast<std::size_t>(n);
  }
  if (::fsync(fd.get()) != 0 || ::rename(tmp.c_str(), path.c_str()) != 0) {
    const int e = errno;
    ::unlink(tmp.c_str());
    throw SystemError(e, "replacing " + path);
  }
  UniqueFd dfd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (dfd) ::fsync(dfd.get());
}

void DefinitionStore::define(const Definition& d, bool replace) {
  std::error_code ec;
  fs::create_directories(dir_, ec);
  if (ec) throw SystemError(ec.value(), "creating definition directory " + dir_);
  const std::string path = path_of(d.spec.uuid);
  if (!replace && fs::exists(path, ec))
    throw Error("vGPU " + d.spec.uuid + " is already defined (" + path + ")");
  atomic_write_file(path, d.to_json().dump(2) + "\n");
}

bool DefinitionStore::undefine(const std::string& uuid) {
  const std::string path = path_of(uuid);
  if (::unlink(path.c_str()) != 0) {
    if (errno == ENOENT) return false;
    throw SystemError(errno, "removing " + path);
  }
  UniqueFd dfd(::open(dir_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (dfd) ::fsync(dfd.get());
  return true;
}

namespace {
Definition load(const fs::path& path) {
  std::ifstream in(path);
  if (!in) throw Error("cannot read " + path.string());
  std::stringstream ss;
  ss << in.rdbuf();
  const auto j = nlohmann::json::parse(ss.str(), nullptr, false);
  if (j.is_discarded() || !j.is_object()) throw Error(path.string() + ": not a JSON object");
  try {
    Definition d = Definition::from_json(j);
    if (d.spec.uuid != path.stem().string()) throw Error("uuid does not match the file name");
    return d;
  } catch (const std::exception& e) {
    throw Error(path.string() + ": " + e.what());
  }
}
}  // namespace

std::optional<Definition> DefinitionStore::find(const std::string& uuid) const {
  const fs::path path = path_of(uuid);
  std::error_code ec;
  if (!fs::exists(path, ec)) return std::nullopt;
  return load(path);
}

std::vector<Definition> DefinitionStore::list(std::vector<std::string>* problems) const {
  std::vector<Definition> out;
  std::error_code ec;
  if (!fs::is_directory(dir_, ec)) return out;
  for (const auto& entry : fs::directory_iterator(dir_, ec)) {
    const auto& p = entry.path();
    if (p.extension() != ".json" || p.filename().string().front() == '.') continue;
    if (!canonical_uuid(p.stem().string())) continue;
    try {
      out.push_back(load(p));
    } catch (const std::exception& e) {
      if (problems != nullptr) problems->emplace_back(e.what());
    }
  }
  std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.spec.uuid < b.spec.uuid; });
  return out;
}

}  // namespace xvgpu::ctl
