// CSV as RFC 4180 writes it: comma-separated, cells with commas, quotes or
// line breaks quoted, quotes doubled, CRLF or LF line ends. UTF-8 throughout;
// a leading byte-order mark is skipped.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace urbis::cli {

struct CsvRow {
  size_t line = 0;  // 1-based line where the row starts
  std::vector<std::string> cells;
};

// Every non-blank row of `text`. Throws CliError (Malformed, with the line)
// on an unterminated quote or a quote inside an unquoted cell.
std::vector<CsvRow> parse_csv(std::string_view text, const std::string& file_name);

// One CSV line (with "\r\n") from `cells`.
std::string csv_line(const std::vector<std::string>& cells);

}  // namespace urbis::cli
