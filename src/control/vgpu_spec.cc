#include "control/vgpu_spec.h"

#include <algorithm>
#include <cctype>
#include <nlohmann/json.hpp>

#include "control/console_address.h"

namespace xvgpu {

namespace {

bool valid_name(std::string_view s) {
  return !s.empty() && s.size() <= 64 && std::all_of(s.begin(), s.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '-' || c == '_' || c == '.';
  });
}

std::string bdf_text(const Sbdf& s) {
  // The short form when the segment is 0, as operators write it.
  return s.seg == 0 ? s.to_string().substr(5) : s.to_string();
}

}  // namespace

std::optional<std::string> canonical_uuid(std::string_view text) {
  if (text.size() != 36) return std::nullopt;
  std::string out(text);
  for (std::size_t i = 0; i < out.size(); ++i) {
    const bool dash = i == 8 || i == 13 || i == 18 || i == 23;
    if (dash ? out[i] != '-' : std::isxdigit(static_cast<unsigned char>(out[i])) == 0) return std::nullopt;
    out[i] = static_cast<char>(std::tolower(static_cast<unsigned char>(out[i])));
  }
  return out;
}

VgpuSpec VgpuSpec::parse(std::string_view text) {
  VgpuSpec spec;
  bool have_uuid = false;
  std::size_t pos = 0;
  if (text.empty())
    throw Error("empty vGPU specification (expected uuid=U,type=T[,bdf=BB:DD.F][,knob=value...])");
  while (pos <= text.size()) {
    const auto comma = std::min(text.find(',', pos), text.size());
    const auto item = text.substr(pos, comma - pos);
    pos = comma + 1;
    const auto eq = item.find('=');
    if (eq == std::string_view::npos) throw Error("'" + std::string(item) + "' is not of the form key=value");
    const std::string key(item.substr(0, eq));
    const std::string value(item.substr(eq + 1));
    if (value.empty()) throw Error("'" + key + "' has an empty value");
    if (key == "uuid") {
      if (have_uuid) throw Error("uuid given twice");
      auto u = canonical_uuid(value);
      if (!u) throw Error("uuid '" + value + "' is not a UUID (xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx)");
      spec.uuid = *u;
      have_uuid = true;
    } else if (key == "type") {
      if (!spec.type.empty()) throw Error("type given twice");
      if (!valid_name(value)) throw Error("type '" + value + "' is not a valid type name");
      spec.type = value;
    } else if (key == "bdf") {
      if (spec.bdf) throw Error("bdf given twice");
      spec.bdf = Sbdf::parse(value);
      if (!spec.bdf)
        throw Error("bdf '" + value + "' is not of the form BB:DD.F (hex, device <= 1f, function <= 7)");
    } else if (key == "vnc") {
      if (spec.vnc) throw Error("vnc given twice");
      try {
        spec.vnc = dm::ConsoleAddress::parse(value).to_string();
      } catch (const Error& e) {
        throw Error(std::string("vnc: ") + e.what());
      }
    } else if (key == "vnc-password-file") {
      if (spec.vnc_password_file) throw Error("vnc-password-file given twice");
      if (value[0] != '/') throw Error("vnc-password-file '" + value + "' must be an absolute path");
      spec.vnc_password_file = value;
    } else if (key == "rom") {
      if (spec.rom) throw Error("rom given twice");
      if (value != "off" && value[0] != '/')
        throw Error("rom '" + value + "' must be an absolute path or off");
      spec.rom = value;
    } else {
      if (!valid_name(key)) throw Error("knob name '" + key + "' is not valid");
      if (std::any_of(spec.knobs.begin(), spec.knobs.end(), [&](const auto& k) { return k.first == key; })) {
        throw Error("knob '" + key + "' given twice");
      }
      spec.knobs.emplace_back(key, value);
    }
    if (comma == text.size()) break;
  }
  if (!have_uuid) throw Error("missing uuid=");
  if (spec.type.empty()) throw Error("missing type=");
  return spec;
}

std::string VgpuSpec::to_string() const {
  std::string out = "uuid=" + uuid + ",type=" + type;
  if (bdf) out += ",bdf=" + bdf_text(*bdf);
  if (vnc) out += ",vnc=" + *vnc;
  if (vnc_password_file) out += ",vnc-password-file=" + *vnc_password_file;
  if (rom) out += ",rom=" + *rom;
  for (const auto& [k, v] : knobs) out += "," + k + "=" + v;
  return out;
}

nlohmann::json VgpuSpec::to_json() const {
  nlohmann::json j{{"uuid", uuid}, {"type", type}, {"knobs", nlohmann::json::object()}};
  if (bdf) j["bdf"] = bdf_text(*bdf);
  if (vnc) j["vnc"] = *vnc;
  if (vnc_password_file) j["vnc_password_file"] = *vnc_password_file;
  if (rom) j["rom"] = *rom;
  for (const auto& [k, v] : knobs) j["knobs"][k] = v;
  return j;
}

VgpuSpec VgpuSpec::from_json(const nlohmann::json& j) {
  std::string text = "uuid=" + j.at("uuid").get<std::string>() + ",type=" + j.at("type").get<std::string>();
  if (j.contains("bdf") && !j["bdf"].is_null()) text += ",bdf=" + j["bdf"].get<std::string>();
  if (j.contains("vnc") && !j["vnc"].is_null()) text += ",vnc=" + j["vnc"].get<std::string>();
  if (j.contains("vnc_password_file") && !j["vnc_password_file"].is_null())
    text += ",vnc-password-file=" + j["vnc_password_file"].get<std::string>();
  if (j.contains("rom") && !j["rom"].is_null()) text += ",rom=" + j["rom"].get<std::string>();
  if (j.contains("knobs")) {
    for (const auto& [k, v] : j["knobs"].items())
      text += "," + k + "=" + (v.is_string() ? v.get<std::string>() : v.dump());
  }
  return parse(text);
}

}  // namespace xvgpu
