#include "dm/console/keysym_qcode.h"

#include <algorithm>
#include <array>
#include <type_traits>
#include <utility>

namespace xvgpu::dm {

namespace {

// Printable Latin-1 keysyms (equal to their ASCII codes) and the US key that types them.
constexpr std::string_view ascii_key(uint32_t c) noexcept {
  switch (c) {
    case ' ':
      return "spc";
    case '!':
      return "1";
    case '@':
      return "2";
    case '#':
      return "3";
    case '$':
      return "4";
    case '%':
      return "5";
    case '^':
      return "6";
    case '&':
      return "7";
    case '*':
      return "8";
    case '(':
      return "9";
    case ')':
      return "0";
    case '-':
    case '_':
      return "minus";
    case '=':
    case '+':
      return "equal";
    case '[':
    case '{':
      return "bracket_left";
    case ']':
    case '}':
      return "bracket_right";
    case '\\':
    case '|':
      return "backslash";
    case ';':
    case ':':
      return "semicolon";
    case '\'':
    case '"':
      return "apostrophe";
    case '`':
    case '~':
      return "grave_accent";
    case ',':
    case '<':
      return "comma";
    case '.':
    case '>':
      return "dot";
    case '/':
    case '?':
      return "slash";
    default:
      return {};
  }
}

constexpr std::array<std::string_view, 26> kLetters = {"a", "b", "c", "d", "e", "f", "g", "h", "i",
                                                       "j", "k", "l", "m", "n", "o", "p", "q", "r",
                                                       "s", "t", "u", "v", "w", "x", "y", "z"};
constexpr std::array<std::string_view, 10> kDigits = {"0", "1", "2", "3", "4", "5", "6", "7", "8", "9"};
constexpr std::array<std::string_view, 10> kKeypadDigits = {"kp_0", "kp_1", "kp_2", "kp_3", "kp_4",
                                                            "kp_5", "kp_6", "kp_7", "kp_8", "kp_9"};
constexpr std::array<std::string_view, 12> kFunctionKeys = {"f1", "f2", "f3", "f4",  "f5",  "f6",
                                                            "f7", "f8", "f9", "f10", "f11", "f12"};

// Function keysyms (X11 keysymdef.h, 0xfe00-0xffff), sorted by keysym.
constexpr std::array<std::pair<uint32_t, std::string_view>, 52> kFunctions = {{
    {0xfe03, "alt_r"},  // ISO_Level3_Shift (AltGr)
    {0xff08, "backspace"},   {0xff09, "tab"},        {0xff0d, "ret"},       {0xff13, "pause"},
    {0xff14, "scroll_lock"}, {0xff15, "sysrq"},      {0xff1b, "esc"},       {0xff50, "home"},
    {0xff51, "left"},        {0xff52, "up"},         {0xff53, "right"},     {0xff54, "down"},
    {0xff55, "pgup"},  // Prior
    {0xff56, "pgdn"},  // Next
    {0xff57, "end"},         {0xff61, "print"},      {0xff63, "insert"},    {0xff67, "menu"},
    {0xff7e, "alt_r"},                                                      // Mode_switch
    {0xff7f, "num_lock"},    {0xff8d, "kp_enter"},   {0xff95, "kp_7"},      // KP_Home
    {0xff96, "kp_4"},                                                       // KP_Left
    {0xff97, "kp_8"},                                                       // KP_Up
    {0xff98, "kp_6"},                                                       // KP_Right
    {0xff99, "kp_2"},                                                       // KP_Down
    {0xff9a, "kp_9"},                                                       // KP_Prior
    {0xff9b, "kp_3"},                                                       // KP_Next
    {0xff9c, "kp_1"},                                                       // KP_End
    {0xff9d, "kp_5"},                                                       // KP_Begin
    {0xff9e, "kp_0"},                                                       // KP_Insert
    {0xff9f, "kp_decimal"},                                                 // KP_Delete
    {0xffaa, "kp_multiply"}, {0xffab, "kp_add"},     {0xffac, "kp_comma"},  // KP_Separator
    {0xffad, "kp_subtract"}, {0xffae, "kp_decimal"}, {0xffaf, "kp_divide"}, {0xffbd, "kp_equals"},
    {0xffe1, "shift"},       {0xffe2, "shift_r"},    {0xffe3, "ctrl"},      {0xffe4, "ctrl_r"},
    {0xffe5, "caps_lock"},   {0xffe7, "meta_l"},                          // Meta_L
    {0xffe8, "meta_r"},                                                   // Meta_R
    {0xffe9, "alt"},         {0xffea, "alt_r"},      {0xffeb, "meta_l"},  // Super_L (the "Windows" key)
    {0xffec, "meta_r"},                                                   // Super_R
    {0xffff, "delete"},
}};

static_assert(std::is_sorted(kFunctions.begin(), kFunctions.end(),
                             [](const auto& a, const auto& b) { return a.first < b.first; }));

}  // namespace

std::optional<std::string_view> keysym_to_qcode(uint32_t keysym) noexcept {
  if (keysym >= 'a' && keysym <= 'z') return kLetters[keysym - 'a'];
  if (keysym >= 'A' && keysym <= 'Z') return kLetters[keysym - 'A'];
  if (keysym >= '0' && keysym <= '9') return kDigits[keysym - '0'];
  if (keysym >= 0x20 && keysym < 0x7f) {
    const std::string_view k = ascii_key(keysym);
    if (!k.empty()) return k;
    return std::nullopt;
  }
  if (keysym >= 0xffb0 && keysym <= 0xffb9) return kKeypadDigits[keysym - 0xffb0];
  if (keysym >= 0xffbe && keysym <= 0xffc9) return kFunctionKeys[keysym - 0xffbe];
  const auto* it = std::lower_bound(kFunctions.begin(), kFunctions.end(), keysym,
                                    [](const auto& e, uint32_t k) { return e.first < k; });
  if (it != kFunctions.end() && it->first == keysym) return it->second;
  return std::nullopt;
}

}  // namespace xvgpu::dm
