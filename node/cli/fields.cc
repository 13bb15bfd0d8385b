// Field references of `put` and CSV headers (see fields.h).
#include "fields.h"

#include "cli.h"

namespace urbis::cli {

void record(Transaction& tx, const EntityId& id, const FieldRef& ref, const std::string& value) {
  switch (ref.kind) {
    case FieldRef::Kind::Set: tx.set(id, ref.field, parse_value(value)); break;
    case FieldRef::Kind::Text: tx.set_text(id, ref.field, ref.locale, value); break;
    case FieldRef::Kind::Add: tx.add(id, ref.field, parse_value(value)); break;
    case FieldRef::Kind::Remove: tx.remove(id, ref.field, parse_value(value)); break;
  }
}

}  // namespace urbis::cli
