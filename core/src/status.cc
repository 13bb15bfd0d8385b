#include "urbis/status.h"

namespace urbis {

std::string_view code_name(Code code) {
  switch (code) {
#define X(name, num, text) \
  case Code::name:         \
    return #name;
#include "urbis/error_codes.def"
#undef X
  }
  return "Unknown";
}

static std::string_view code_text(Code code) {
  switch (code) {
#define X(name, num, text) \
  case Code::name:         \
    return text;
#include "urbis/error_codes.def"
#undef X
  }
  return "unknown error";
}

std::string Status::to_string() const {
  std::string out(code_name(code_));
  out += ": ";
  out += code_text(code_);
  if (!message_.empty()) {
    out += " (";
    out += message_;
    out += ")";
  }
  return out;
}

}  // namespace urbis
