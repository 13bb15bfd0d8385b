// Fuzz target `csv`: `urbis import`'s path on any file: parse and check the
// CSV (node/cli/csv_import.h), turn its rows into transactions, commit them
// as one group on a real replica (the admin's, in a fresh space), and read
// back. A refused file (CliError) or a refused commit (the content rules)
// is fine; a crash, a sanitizer report, or a commit of a different number of
// entities than rows is not.
#include "cli.h"
#include "csv_import.h"
#include "fuzz_util.h"

using namespace urbis;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  urbis::fuzz::reset_random();
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  cli::CsvImport csv;
  try {
    csv = cli::check_csv_import(text, "fuzz.csv");
  } catch (const cli::CliError& e) {
    if (e.code != Code::Malformed) fuzz::broken("a refused CSV file is not Malformed");
    return 0;
  }
  // Quoting round trip: csv_line writes each row so that parse_csv reads it
  // back, after a header line as in an export (a byte-order mark is skipped
  // only at the start of a file, and an export starts with "id").
  for (const cli::CsvRow& row : csv.rows) {
    std::vector<cli::CsvRow> back;
    try {
      back = cli::parse_csv("id\r\n" + cli::csv_line(row.cells), "line.csv");
    } catch (const cli::CliError&) {
      fuzz::broken("csv_line wrote a line parse_csv refuses");
    }
    const bool blank = row.cells.size() == 1 && row.cells[0].empty();
    if (!blank && (back.size() != 2 || back[1].cells != row.cells)) fuzz::broken("csv_line does not round-trip");
  }
  fuzz::Peer admin(fuzz::kAdminSeed, 400, fuzz::kFuzzClockMs);
  const SpaceId space = fuzz::must(admin->create_space("import"), "create_space");
  std::vector<Transaction> changes;
  try {
    changes = cli::csv_import_transactions(*admin.replica, space, "project", csv, 3);
  } catch (const cli::CliError&) {
    return 0;
  }
  auto committed = admin->commit_group(changes);
  if (committed.is_ok()) {
    Query q;
    q.type = "project";
    q.limit = 0;
    auto found = admin->find(space, q);
    if (found.is_ok() && found->total != csv.entities()) fuzz::broken("an import committed another number of rows");
  }
  fuzz::read_back(*admin.replica);
  return 0;
}
