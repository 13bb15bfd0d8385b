#include "urbis/field_ref.h"

namespace urbis {

bool valid_field_name(std::string_view name) {
  if (name.empty()) return false;
  for (unsigned char c : name)
    if (c <= ' ' || c == '=' || c == '@' || c == '"' || c == ',') return false;
  return true;
}

bool valid_locale(std::string_view locale) {
  if (locale.empty() || locale.size() > 35) return false;
  for (unsigned char c : locale) {
    const bool alnum = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
    if (!alnum && c != '-' && c != '_') return false;
  }
  return true;
}

std::optional<FieldRef> parse_field_ref(std::string_view text) {
  FieldRef ref;
  std::string_view name = text;
  if (!name.empty() && (name[0] == '+' || name[0] == '-')) {
    ref.kind = name[0] == '+' ? FieldRef::Kind::Add : FieldRef::Kind::Remove;
    name.remove_prefix(1);
  } else if (auto at = name.find('@'); at != std::string_view::npos) {
    ref.kind = FieldRef::Kind::Text;
    ref.locale = std::string(name.substr(at + 1));
    name = name.substr(0, at);
    if (!valid_locale(ref.locale)) return std::nullopt;
  }
  if (!valid_field_name(name)) return std::nullopt;
  ref.field = std::string(name);
  return ref;
}

std::string to_string(const FieldRef& ref) {
  switch (ref.kind) {
    case FieldRef::Kind::Set: return ref.field;
    case FieldRef::Kind::Text: return ref.field + "@" + ref.locale;
    case FieldRef::Kind::Add: return "+" + ref.field;
    case FieldRef::Kind::Remove: return "-" + ref.field;
  }
  return ref.field;
}

}  // namespace urbis
