// Field references as `put` arguments and CSV headers spell them:
//   field         a plain field (value parsed by parse_value)
//   field@LOCALE  a translatable field in one locale (value kept as text)
//   +field        add an element to a set field
//   -field        remove an element from a set field
#pragma once

#include <optional>
#include <string>

#include "urbis/replica.h"

namespace urbis::cli {

struct FieldRef {
  enum class Kind { Set, Text, Add, Remove } kind = Kind::Set;
  std::string field;
  std::string locale;  // Kind::Text only
};

// nullopt when `text` is not one of the forms above (empty names, spaces or
// '=' in a name, an empty or malformed locale).
std::optional<FieldRef> parse_field_ref(const std::string& text);
// The spelling parse_field_ref reads back.
std::string to_string(const FieldRef& ref);

// Records `value` for `ref` on entity `id` in `tx`.
void record(Transaction& tx, const EntityId& id, const FieldRef& ref, const std::string& value);

}  // namespace urbis::cli
