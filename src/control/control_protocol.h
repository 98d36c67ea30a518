// The control protocol between xvgpuctl (or any script) and one running xvgpu-dm.
//
// Transport: a UNIX stream socket (owner-only permissions by default). Framing: one JSON object
// per line ("\n"-terminated, at most kMaxMessageBytes), request then response, repeated on one
// connection as often as the client likes. Every request is {"cmd": NAME, ...arguments}; every
// response is either {"ok": true, "result": ...} or {"ok": false, "error": MESSAGE, "code":
// ERROR_CODE}. docs/man/xvgpu-dm.1 documents each command (section CONTROL PROTOCOL).
#pragma once

#include <nlohmann/json_fwd.hpp>

#include <chrono>
#include <cstddef>
#include <string>
#include <string_view>

#include "common/error.h"
#include "common/unique_fd.h"

namespace xvgpu::control {

inline constexpr int kProtocolVersion = 1;
inline constexpr std::size_t kMaxMessageBytes = std::size_t{64} << 20;  // screenshots travel base64-encoded

// Command names.
inline constexpr std::string_view kStatus = "status";
inline constexpr std::string_view kStats = "stats";
inline constexpr std::string_view kKnobGet = "knob-get";
inline constexpr std::string_view kKnobSet = "knob-set";
inline constexpr std::string_view kScreenshot = "screenshot";
inline constexpr std::string_view kHotAdd = "hot-add";
inline constexpr std::string_view kHotRemove = "hot-remove";
inline constexpr std::string_view kShutdown = "shutdown";
// {"path": FILE}: every vGPU's state and the VRAM layout into FILE (dm/device_state.h).
inline constexpr std::string_view kSaveState = "save-state";

// Error codes carried in "code" of a failed response.
inline constexpr std::string_view kErrBadRequest = "bad-request";  // malformed JSON or arguments
inline constexpr std::string_view kErrUnknownCmd = "unknown-command";
inline constexpr std::string_view kErrNotFound = "not-found";  // no such vGPU or knob
inline constexpr std::string_view kErrRefused = "refused";     // the core or vendor said no
inline constexpr std::string_view kErrInternal = "internal";

// A failed request as seen by the client: the server's message and code, or a transport failure
// (code "transport").
class ControlError : public Error {
 public:
  ControlError(std::string code, const std::string& message) : Error(message), code_(std::move(code)) {}
  [[nodiscard]] const std::string& code() const { return code_; }

 private:
  std::string code_;
};

// Thrown by a command handler to answer {"ok": false} with a specific code.
class RequestError : public Error {
 public:
  RequestError(std::string_view code, const std::string& message) : Error(message), code_(code) {}
  [[nodiscard]] const std::string& code() const { return code_; }

 private:
  std::string code_;
};

nlohmann::json make_ok(nlohmann::json result);
nlohmann::json make_error(std::string_view code, const std::string& message);
// One message as it travels: compact JSON (invalid UTF-8 replaced) and the terminating newline.
std::string encode_message(const nlohmann::json& msg);

// Line framing over a connected stream socket, with a deadline per message. Throws
// ControlError("transport") on I/O errors, EOF inside a message, timeout, oversize or bad JSON.
class MessageStream {
 public:
  explicit MessageStream(UniqueFd fd) : fd_(std::move(fd)) {}
  void write(const nlohmann::json& msg, std::chrono::milliseconds timeout);
  // Returns false on a clean EOF before any byte of a message.
  bool read(nlohmann::json& out, std::chrono::milliseconds timeout);
  // For a server multiplexing many clients: consumes what the socket holds now without
  // waiting. Message: `out` holds the next message; Partial: no whole message yet; Closed: clean
  // EOF between messages. Throws ControlError("transport") on I/O errors, EOF inside a message,
  // bad JSON, or more than max_bytes buffered without a newline.
  enum class Fill { Message, Partial, Closed };
  Fill read_available(nlohmann::json& out, std::size_t max_bytes);
  [[nodiscard]] std::size_t buffered_bytes() const { return inbuf_.size(); }
  // True when a whole message already sits in the buffer (a client pipelined requests).
  [[nodiscard]] bool has_buffered_message() const { return inbuf_.find('\n') != std::string::npos; }
  [[nodiscard]] int fd() const { return fd_.get(); }

 private:
  UniqueFd fd_;
  std::string inbuf_;
};

// A client connection to one device model's control socket.
class Client {
 public:
  // Throws ControlError("transport") when nothing listens at `path`.
  explicit Client(const std::string& path, std::chrono::milliseconds timeout = std::chrono::seconds(10));
  // Sends one request and returns its "result"; throws ControlError with the server's code.
  nlohmann::json call(const nlohmann::json& request);

 private:
  MessageStream stream_;
  std::chrono::milliseconds timeout_;
};

// Base64 (RFC 4648) for binary payloads such as PNG screenshots.
std::string base64_encode(std::string_view bytes);
// Throws Error on malformed input.
std::string base64_decode(std::string_view text);

}  // namespace xvgpu::control
