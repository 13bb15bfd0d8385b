// Status and Result<T>: errors as values at every public boundary of the core.
//
// A Status is a code from error_codes.def plus a human message. Result<T>
// holds either a T or a non-Ok Status. Both are [[nodiscard]]: ignoring an
// error is a compile warning (an error in CI). The core does not throw across
// its public API; exceptions from dependencies are converted at the boundary.
#pragma once

#include <cassert>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>

namespace urbis {

enum class Code : int {
#define X(name, num, text) name = num,
#include "urbis/error_codes.def"
#undef X
};

// Stable identifier of a code, e.g. "BadSignature" (what JS and logs see).
std::string_view code_name(Code code);

class [[nodiscard]] Status {
 public:
  Status() = default;
  Status(Code code, std::string message) : code_(code), message_(std::move(message)) {}
  static Status ok() { return {}; }

  bool is_ok() const { return code_ == Code::Ok; }
  explicit operator bool() const { return is_ok(); }
  Code code() const { return code_; }
  const std::string& message() const { return message_; }
  // "BadSignature: signature does not verify (...)".
  std::string to_string() const;

 private:
  Code code_ = Code::Ok;
  std::string message_;
};

template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}  // NOLINT: implicit by design
  Result(Status status) : v_(std::move(status)) { assert(!std::get<Status>(v_).is_ok()); }  // NOLINT

  bool is_ok() const { return std::holds_alternative<T>(v_); }
  explicit operator bool() const { return is_ok(); }
  const Status& status() const {
    static const Status kOk;
    return is_ok() ? kOk : std::get<Status>(v_);
  }
  Code code() const { return status().code(); }
  T& value() & { return std::get<T>(v_); }
  const T& value() const& { return std::get<T>(v_); }
  T&& value() && { return std::get<T>(std::move(v_)); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }

 private:
  std::variant<T, Status> v_;
};

}  // namespace urbis

// Early-return helpers for code that produces Status / Result.
#define URBIS_CONCAT_INNER(a, b) a##b
#define URBIS_CONCAT(a, b) URBIS_CONCAT_INNER(a, b)
#define URBIS_RETURN_IF_ERROR(expr)         \
  do {                                      \
    ::urbis::Status urbis_s_ = (expr);      \
    if (!urbis_s_.is_ok()) return urbis_s_; \
  } while (0)
#define URBIS_ASSIGN_OR_RETURN_IMPL(tmp, lhs, expr) \
  auto tmp = (expr);                                \
  if (!tmp.is_ok()) return tmp.status();            \
  lhs = std::move(tmp).value()
#define URBIS_ASSIGN_OR_RETURN(lhs, expr) URBIS_ASSIGN_OR_RETURN_IMPL(URBIS_CONCAT(urbis_r_, __LINE__), lhs, expr)
