// Field references as people and tools spell them: the `urbis put` arguments,
// CSV headers and the browser client's compact `put` keys.
//   field         a plain field
//   field@LOCALE  a translatable field in one locale
//   +field        add an element to a set field
//   -field        remove an element from a set field
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace urbis {

struct FieldRef {
  enum class Kind { Set, Text, Add, Remove } kind = Kind::Set;
  std::string field;
  std::string locale;  // Kind::Text only
};

// A field name: non-empty, no control characters or spaces, none of = @ " ,
bool valid_field_name(std::string_view name);
// A locale tag as the core stores it: 1-35 of [A-Za-z0-9_-] (BCP 47 shapes).
bool valid_locale(std::string_view locale);

// nullopt when `text` is not one of the forms above.
std::optional<FieldRef> parse_field_ref(std::string_view text);
// The spelling parse_field_ref reads back.
std::string to_string(const FieldRef& ref);

}  // namespace urbis
