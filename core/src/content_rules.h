// Limits on what one content op may carry (core/README.md, "Content rules"),
// shared by the writer (Transaction, commit) and the reader (materialize,
// query). Every check here is iterative: no input, however nested, drives
// recursion. nlohmann/json parses and destroys iteratively, but copies,
// compares and dumps recursively, so a value is parsed only after a byte scan
// has bounded its depth.
// Internal; not installed.
#pragma once

#include "urbis/change.pb.h"
#include "urbis/types.h"

#include <cstdint>
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

// Whether `s` is well-formed UTF-8 (no overlongs, surrogates or code points
// past U+10FFFF). Field names and locales become keys of an entity's JSON
// document, whose dump() throws on anything else.
inline bool valid_utf8(std::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    const auto c = static_cast<unsigned char>(s[i]);
    size_t n;
    uint32_t cp;
    if (c < 0x80) {
      ++i;
      continue;
    } else if ((c & 0xE0) == 0xC0) {
      n = 1, cp = c & 0x1F;
    } else if ((c & 0xF0) == 0xE0) {
      n = 2, cp = c & 0x0F;
    } else if ((c & 0xF8) == 0xF0) {
      n = 3, cp = c & 0x07;
    } else {
      return false;
    }
    if (i + n >= s.size()) return false;  // truncated sequence
    for (size_t k = 1; k <= n; ++k) {
      const auto d = static_cast<unsigned char>(s[i + k]);
      if ((d & 0xC0) != 0x80) return false;
      cp = cp << 6 | (d & 0x3F);
    }
    static constexpr uint32_t kMin[] = {0, 0x80, 0x800, 0x10000};
    if (cp < kMin[n] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return false;
    i += n + 1;
  }
  return true;
}

// Whether `text` nests arrays/objects deeper than `max_depth`, by a scan of
// its bytes (brackets inside strings do not count). Meaningful for valid JSON;
// invalid JSON is refused by the parse that follows.
inline bool json_text_deeper_than(std::string_view text, size_t max_depth) {
  size_t depth = 0;
  bool in_string = false, escaped = false;
  for (char c : text) {
    if (in_string) {
      if (escaped)
        escaped = false;
      else if (c == '\\')
        escaped = true;
      else if (c == '"')
        in_string = false;
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

// Why an in-memory value cannot be written ("" when it can): arrays/objects
// nested deeper than kMaxValueDepth, or a string or key that is not UTF-8
// (dump() would throw). Iterative: dump() and copies recurse, this does not.
inline std::string json_problem(const nlohmann::json& value) {
  if (value.is_string())  // the common cases, without a stack
    return valid_utf8(value.get_ref<const std::string&>()) ? "" : "a string that is not UTF-8";
  if (!value.is_structured()) return "";
  std::vector<std::pair<const nlohmann::json*, size_t>> stack{{&value, 0}};
  while (!stack.empty()) {
    auto [v, depth] = stack.back();
    stack.pop_back();
    if (v->is_string()) {
      if (!valid_utf8(v->get_ref<const std::string&>())) return "a string that is not UTF-8";
      continue;
    }
    if (!v->is_structured()) continue;
    if (depth + 1 > kMaxValueDepth) return "value nested deeper than " + std::to_string(kMaxValueDepth);
    for (auto it = v->begin(); it != v->end(); ++it) {
      if (v->is_object() && !valid_utf8(it.key())) return "a key that is not UTF-8";
      stack.emplace_back(&it.value(), depth + 1);
    }
  }
  return "";
}

// Whether `text` is exactly one JSON number:
// -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)?
inline bool json_text_is_number(std::string_view text) {
  size_t i = 0;
  const size_t n = text.size();
  auto digits = [&] {
    const size_t from = i;
    while (i < n && text[i] >= '0' && text[i] <= '9') ++i;
    return i - from;
  };
  if (i < n && text[i] == '-') ++i;
  if (i < n && text[i] == '0') {
    ++i;
  } else if (digits() == 0) {
    return false;
  }
  if (i < n && text[i] == '.') {
    ++i;
    if (digits() == 0) return false;
  }
  if (i < n && (text[i] == 'e' || text[i] == 'E')) {
    ++i;
    if (i < n && (text[i] == '+' || text[i] == '-')) ++i;
    if (digits() == 0) return false;
  }
  return i == n;
}

// Why `text` cannot be an op's value ("" when it can): at most kMaxValueBytes,
// at most kMaxValueDepth deep, valid JSON.
inline std::string value_problem(std::string_view text) {
  if (text.size() > kMaxValueBytes)
    return "value of " + std::to_string(text.size()) + " bytes exceeds " + std::to_string(kMaxValueBytes);
  // The common case, a plain string (no escapes): decided in one pass
  // without the parser (a content change is mostly such values).
  if (text.size() >= 2 && text.front() == '"' && text.back() == '"') {
    bool plain = true, ascii = true;
    for (size_t i = 1; i + 1 < text.size() && plain; ++i) {
      const auto c = static_cast<unsigned char>(text[i]);
      plain = c != '"' && c != '\\' && c >= 0x20;
      ascii &= c < 0x80;
    }
    if (plain) return ascii || valid_utf8(text) ? "" : "value is not UTF-8";
  }
  if (text == "true" || text == "false" || text == "null") return "";
  // A short number without exponent (one nlohmann parses without overflow;
  // others go through the parser, which refuses overflows such as 1e999).
  if (text.size() <= 20 && text.find_first_of("eE") == std::string_view::npos && json_text_is_number(text)) return "";
  if (json_text_deeper_than(text, kMaxValueDepth)) return "value nested deeper than " + std::to_string(kMaxValueDepth);
  if (!nlohmann::json::accept(text)) return "value is not JSON";
  return "";
}

// Whether valid JSON `text` is a string (JSON whitespace may lead).
inline bool json_text_is_string(std::string_view text) {
  size_t i = text.find_first_not_of(" \t\r\n");
  return i != std::string_view::npos && text[i] == '"';
}

// `text` parsed when it is JSON at most `max_depth` deep, else null (never
// stored under the content rules): no recursion driven by the input, and no
// string that is not UTF-8 (dump() would throw on it).
inline nlohmann::json parse_bounded(const std::string& text, size_t max_depth) {
  // Most stored values are JSON strings with nothing to unescape: their
  // characters are the value (a refresh parses every value of an entity).
  if (text.size() >= 2 && text.front() == '"' && text.back() == '"') {
    const std::string_view chars = std::string_view(text).substr(1, text.size() - 2);
    bool plain = true;
    for (char c : chars) plain &= c != '"' && c != '\\' && static_cast<unsigned char>(c) >= 0x20;
    if (plain && valid_utf8(chars)) return nlohmann::json(std::string(chars));
  }
  if (!json_text_deeper_than(text, max_depth)) {
    auto v = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
    if (!v.is_discarded()) return v;
  }
  return nlohmann::json();
}

// A stored value, parsed: stored values passed the content rules (at most
// kMaxValueDepth deep); `extra_depth` allows for what a reader nests around
// them (an entity's summary document: field, locale or set, value). Bounded
// again on every read, so no stored text drives recursion whatever wrote it.
inline nlohmann::json parse_stored_value(const std::string& text, size_t extra_depth = 0) {
  return parse_bounded(text, kMaxValueDepth + extra_depth);
}

// ---- the merge rule (DESIGN.md) ----

// Of two versions of one register (a field, a translation, a set element's
// state), the one stamped (hlc_a, author_a) wins over (hlc_b, author_b) when
// its HLC is later, or, with equal HLCs, its author key is greater: one
// total order, the same on every replica whatever the arrival order.
// Materialization and reads both order by it.
inline bool wins_over(uint64_t hlc_a, const DeviceKey& author_a, uint64_t hlc_b, const DeviceKey& author_b) {
  return std::tie(hlc_a, author_a) > std::tie(hlc_b, author_b);
}

// A live value of a register as the read model orders them (get, the
// summary document, the original locale): its stamp and its op's place in
// its author's chain, (seq, index) packed so that a later op is greater.
struct LiveStamp {
  uint64_t hlc;
  const DeviceKey& author;
  uint64_t op;
};

// The merge rule's winner first. Two live values of one author at one HLC
// (ops of one change, or of one pending change's puts, that do not
// overwrite each other: only a forged body has them) are ordered by op, the
// later first, whatever order the store lists them in (which depends on
// local author row ids).
inline bool live_before(const LiveStamp& a, const LiveStamp& b) {
  if (wins_over(a.hlc, a.author, b.hlc, b.author)) return true;
  if (wins_over(b.hlc, b.author, a.hlc, a.author)) return false;
  return a.op > b.op;
}

// A text field's original locale is that of its earliest untranslated text;
// of one author's at one HLC, the earlier op's.
inline bool earlier_original(const LiveStamp& a, const LiveStamp& b) {
  return std::tie(a.hlc, a.author, a.op) < std::tie(b.hlc, b.author, b.op);
}

// ---- scoped roles (docs/membership.md) ----

// The home city a group names: a `city` is its own; any other entity the
// city of the group's last plain `set` of `city` (a JSON string of 32 hex
// digits), or none.
inline Bytes home_of_group(const pb::EntityOps& group, const EntityId& eid) {
  if (group.type() == "city") return Bytes(eid.bytes.begin(), eid.bytes.end());
  Bytes home;
  for (const auto& op : group.ops()) {
    if (op.kind() != pb::OP_SET || op.field() != "city" || !op.locale().empty()) continue;
    const std::string& v = op.value();
    home.clear();
    if (v.size() == 34 && v.front() == '"' && v.back() == '"')
      if (auto id = EntityId::from_hex(std::string_view(v).substr(1, 32)))
        home.assign(id->bytes.begin(), id->bytes.end());
  }
  return home;
}

inline bool in_scope(const Bytes& home, const Bytes& scope) {
  if (home.size() != EntityId::kSize) return false;
  for (size_t i = 0; i + EntityId::kSize <= scope.size(); i += EntityId::kSize)
    if (std::equal(home.begin(), home.end(), scope.begin() + static_cast<long>(i))) return true;
  return false;
}

// Types a scoped writer writes wherever it may write at all: comments (on
// anything it reads) and its own profile.
inline bool scope_free(const std::string& type) { return type == "comment" || type == "profile"; }

}  // namespace urbis
