// Where a vGPU's expansion ROM comes from (spec key rom=): an operator's file, "off", or by
// default Debian's SeaVGABIOS for Bochs displays when it exists and is built for the type's PCI
// IDs (package seabios). A ROM the operator named must load and fit the type; the default is
// left out quietly where it does not apply.
#pragma once

#include <memory>
#include <optional>
#include <string>

#include "gpu/expansion_rom.h"
#include "gpu/vendor_model.h"

namespace xvgpu::dm {

inline constexpr const char* kDefaultRomPath = "/usr/share/seabios/vgabios-bochs-display.bin";

// Reads and checks one ROM image. Throws Error "rom PATH: REASON".
std::shared_ptr<const gpu::ExpansionRom> load_rom_file(const std::string& path);

// The ROM for a vGPU of `type` given the spec's rom= value (nullopt = absent): nullptr for
// "off", for a type without memory decode, or when the default does not apply. Throws Error
// naming the file and the problem for a ROM the operator asked for. `default_path` is the
// file used when rom= is absent.
std::shared_ptr<const gpu::ExpansionRom> resolve_rom(const std::optional<std::string>& rom,
                                                     const gpu::TypeInfo& type,
                                                     const std::string& default_path = kDefaultRomPath);

}  // namespace xvgpu::dm
