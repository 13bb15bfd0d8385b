// `urbis import`'s checks and transactions (see csv_import.h).
#include "csv_import.h"

#include <algorithm>
#include <set>

#include "cli.h"
#include "fields.h"

namespace urbis::cli {

CsvImport check_csv_import(std::string_view text, const std::string& file) {
  CsvImport out;
  out.rows = parse_csv(text, file);
  const std::vector<CsvRow>& rows = out.rows;
  if (rows.empty()) fail(Code::Malformed, file + ": no header row");
  const CsvRow& header = rows.front();
  auto bad_row = [&](size_t line, const std::string& what) {
    fail(Code::Malformed, file + ":" + std::to_string(line) + ": " + what + "; nothing imported");
  };
  std::set<std::string> seen;
  for (const std::string& name : header.cells) {
    if (!seen.insert(name).second) bad_row(header.line, "column '" + name + "' appears twice");
    if (name == "id" || name == "type") {
      out.columns.emplace_back();
      continue;
    }
    auto ref = parse_field_ref(name);
    if (!ref || ref->kind == FieldRef::Kind::Remove)
      bad_row(header.line, "'" + name + "' is not a column name (field, field@LOCALE or +set)");
    out.columns.push_back(ref);
  }
  for (size_t r = 1; r < rows.size(); ++r) {
    if (rows[r].cells.size() != out.columns.size())
      bad_row(rows[r].line, "the row has " + std::to_string(rows[r].cells.size()) + " cells, the header " +
                                std::to_string(out.columns.size()));
    bool fills = false;
    for (size_t c = 0; c < out.columns.size() && !fills; ++c) {
      const std::string& cell = rows[r].cells[c];
      if (!out.columns[c] || cell.empty()) continue;
      // A set's cell fills it when one element between separators is not empty.
      fills =
          out.columns[c]->kind != FieldRef::Kind::Add || cell.find_first_not_of(kCsvSetSeparator) != std::string::npos;
    }
    if (fills) out.filled.push_back(r);
  }
  return out;
}

std::vector<Transaction> csv_import_transactions(Replica& replica, const SpaceId& space, const std::string& type,
                                                 const CsvImport& csv, size_t batch,
                                                 void (*progress)(size_t before, size_t now, size_t total)) {
  const std::vector<CsvRow>& rows = csv.rows;
  const auto& columns = csv.columns;
  const std::vector<size_t>& filled = csv.filled;
  std::vector<Transaction> changes;
  for (size_t first = 0; first < filled.size(); first += batch) {
    Transaction tx = replica.begin(space);
    const size_t end = std::min(filled.size(), first + batch);
    for (size_t i = first; i < end; ++i) {
      const size_t r = filled[i];
      EntityId id = tx.create(type);
      for (size_t c = 0; c < columns.size(); ++c) {
        const std::string& cell = rows[r].cells[c];
        if (!columns[c] || cell.empty()) continue;
        if (columns[c]->kind != FieldRef::Kind::Add) {
          record(tx, id, *columns[c], cell);
          continue;
        }
        size_t start = 0;
        for (;;) {
          size_t sep = cell.find(kCsvSetSeparator, start);
          std::string elem = cell.substr(start, sep == std::string::npos ? std::string::npos : sep - start);
          if (!elem.empty()) record(tx, id, *columns[c], elem);
          if (sep == std::string::npos) break;
          start = sep + 1;
        }
      }
    }
    changes.push_back(std::move(tx));
    if (progress) progress(first, end, csv.entities());
  }
  return changes;
}

}  // namespace urbis::cli
