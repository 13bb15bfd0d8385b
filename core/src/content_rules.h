// Limits on what one content op may carry (core/README.md, "Content rules"),
// shared by the writer (Transaction, commit) and the reader (materialize,
// query). Every check here is iterative: no input, however nested, drives
// recursion. nlohmann/json parses and destroys iteratively, but copies,
// compares and dumps recursively, so a value is parsed only after a byte scan
// has bounded its depth.
// Internal; not installed.
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

namespace urbis {

// Arrays and objects nested at most this deep in one value ([] is depth 1).
inline constexpr size_t kMaxValueDepth = 32;
// One value's JSON text: generous for a long translated description.
inline constexpr size_t kMaxValueBytes = size_t{1} << 20;
// A field name, a locale tag, an entity type.
inline constexpr size_t kMaxFieldBytes = 256;
inline constexpr size_t kMaxLocaleBytes = 35;
inline constexpr size_t kMaxTypeBytes = 64;

// Whether `text` nests arrays/objects deeper than `max_depth`, by a scan of
// its bytes (brackets inside strings do not count). Meaningful for valid JSON;
// invalid JSON is refused by the parse that follows.
inline bool json_text_deeper_than(std::string_view text, size_t max_depth) {
  size_t depth = 0;
  bool in_string = false, escaped = false;
  for (char c : text) {
    if (in_string) {
      if (escaped) escaped = false;
      else if (c == '\\') escaped = true;
      else if (c == '"') in_string = false;
    } else if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      if (++depth > max_depth) return true;
    } else if ((c == ']' || c == '}') && depth > 0) {
      --depth;
    }
  }
  return false;
}

// Whether an in-memory value nests deeper than `max_depth` (iterative).
inline bool json_deeper_than(const nlohmann::json& value, size_t max_depth) {
  std::vector<std::pair<const nlohmann::json*, size_t>> stack{{&value, 0}};
  while (!stack.empty()) {
    auto [v, depth] = stack.back();
    stack.pop_back();
    if (!v->is_structured()) continue;
    if (depth + 1 > max_depth) return true;
    for (const auto& child : *v) stack.emplace_back(&child, depth + 1);
  }
  return false;
}

// Why `text` cannot be an op's value ("" when it can): at most kMaxValueBytes,
// at most kMaxValueDepth deep, valid JSON.
inline std::string value_problem(std::string_view text) {
  if (text.size() > kMaxValueBytes)
    return "value of " + std::to_string(text.size()) + " bytes exceeds " +
           std::to_string(kMaxValueBytes);
  if (json_text_deeper_than(text, kMaxValueDepth))
    return "value nested deeper than " + std::to_string(kMaxValueDepth);
  if (!nlohmann::json::accept(text)) return "value is not JSON";
  return "";
}

// Whether valid JSON `text` is a string (JSON whitespace may lead).
inline bool json_text_is_string(std::string_view text) {
  size_t i = text.find_first_not_of(" \t\r\n");
  return i != std::string_view::npos && text[i] == '"';
}

// `text` parsed when it is JSON at most `max_depth` deep, else the text
// itself as a JSON string: never recursion driven by the input.
inline nlohmann::json parse_bounded(const std::string& text, size_t max_depth) {
  if (!json_text_deeper_than(text, max_depth)) {
    auto v = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
    if (!v.is_discarded()) return v;
  }
  return nlohmann::json(text);
}

}  // namespace urbis
