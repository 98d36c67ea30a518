// X keysyms (what a VNC client sends for a key, RFB KeyEvent) to QEMU's QKeyCode names (what
// qemu-xen's QMP `input-send-event` takes). A keysym names a character or a function; a qcode
// names a key of a US keyboard: characters that need Shift there map to their key ('!' -> "1"),
// since the client sends the Shift key itself.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

namespace xvgpu::dm {

// The qcode of the key that types `keysym` on a US layout; nullopt for a keysym without one.
std::optional<std::string_view> keysym_to_qcode(uint32_t keysym) noexcept;

}  // namespace xvgpu::dm
