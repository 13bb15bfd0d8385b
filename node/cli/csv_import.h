// `urbis import`'s work without the home (transfer.cc runs it): check a CSV
// file entirely, then turn its rows into transactions of new entities. Split
// out so tests/fuzz/csv_fuzz.cc drives it on a real replica.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "csv.h"
#include "urbis/field_ref.h"
#include "urbis/replica.h"

namespace urbis::cli {

// A CSV file that passed every check: its rows (the header first) and, per
// column, the field it fills (nullopt for the `id` and `type` columns export
// writes).
struct CsvImport {
  std::vector<CsvRow> rows;
  std::vector<std::optional<FieldRef>> columns;
  // The rows (indices into `rows`) that set at least one field: each becomes
  // an entity. A row of empty cells (a spreadsheet's trailing ",,,") sets
  // nothing and is skipped: an entity without a value would never show.
  std::vector<size_t> filled;
  size_t entities() const { return filled.size(); }
};

// Parses and checks `text` (named `file_name` in errors): a header of
// distinct field references, every row as wide as the header. Throws
// CliError (Malformed, with the line) otherwise.
CsvImport check_csv_import(std::string_view text, const std::string& file_name);

// Between a set's elements in one CSV cell (export writes it, import splits on it).
inline constexpr char kCsvSetSeparator = ';';

// One transaction per `batch` rows, each row a new entity of `type` in
// `space`; a set column's cell's elements are separated by kCsvSetSeparator.
// After each batch, calls `progress(rows read before it, rows read now,
// total)` when given. Throws CliError when a cell's value breaks a rule
// record() checks; the content rules are commit's (Transaction).
std::vector<Transaction> csv_import_transactions(Replica& replica, const SpaceId& space, const std::string& type,
                                                 const CsvImport& csv, size_t batch,
                                                 void (*progress)(size_t before, size_t now, size_t total) = nullptr);

}  // namespace urbis::cli
