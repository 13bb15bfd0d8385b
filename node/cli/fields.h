// Field references of `put` arguments and CSV headers (urbis/field_ref.h):
// a plain field's value is parsed by parse_value, a translatable field's kept
// as text.
#pragma once

#include <string>

#include "urbis/field_ref.h"
#include "urbis/replica.h"

namespace urbis::cli {

// Records `value` for `ref` on entity `id` in `tx`.
void record(Transaction& tx, const EntityId& id, const FieldRef& ref, const std::string& value);

}  // namespace urbis::cli
