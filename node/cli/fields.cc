// Field references of `put` and CSV headers (see fields.h).
#include "fields.h"

#include <cctype>

#include "cli.h"

namespace urbis::cli {
namespace {

bool valid_name(const std::string& s) {
  if (s.empty()) return false;
  for (unsigned char c : s)
    if (c <= ' ' || c == '=' || c == '@' || c == '"' || c == ',') return false;
  return true;
}

bool valid_locale(const std::string& s) {
  if (s.empty() || s.size() > 35) return false;
  for (unsigned char c : s)
    if (!(std::isalnum(c) || c == '-' || c == '_')) return false;
  return true;
}

}  // namespace

std::optional<FieldRef> parse_field_ref(const std::string& text) {
  FieldRef ref;
  std::string rest = text;
  if (!rest.empty() && (rest[0] == '+' || rest[0] == '-')) {
    ref.kind = rest[0] == '+' ? FieldRef::Kind::Add : FieldRef::Kind::Remove;
    rest.erase(0, 1);
  } else if (auto at = rest.find('@'); at != std::string::npos) {
    ref.kind = FieldRef::Kind::Text;
    ref.locale = rest.substr(at + 1);
    rest.erase(at);
    if (!valid_locale(ref.locale)) return std::nullopt;
  }
  if (!valid_name(rest)) return std::nullopt;
  ref.field = std::move(rest);
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

void record(Transaction& tx, const EntityId& id, const FieldRef& ref, const std::string& value) {
  switch (ref.kind) {
    case FieldRef::Kind::Set: tx.set(id, ref.field, parse_value(value)); break;
    case FieldRef::Kind::Text: tx.set_text(id, ref.field, ref.locale, value); break;
    case FieldRef::Kind::Add: tx.add(id, ref.field, parse_value(value)); break;
    case FieldRef::Kind::Remove: tx.remove(id, ref.field, parse_value(value)); break;
  }
}

}  // namespace urbis::cli
