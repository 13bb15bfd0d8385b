// A small RFC 4180 reader and writer (see csv.h).
#include "csv.h"

#include "cli.h"

namespace urbis::cli {

std::vector<CsvRow> parse_csv(std::string_view text, const std::string& file_name) {
  if (text.substr(0, 3) == "\xEF\xBB\xBF") text.remove_prefix(3);
  std::vector<CsvRow> rows;
  CsvRow row{1, {}};
  std::string cell;
  size_t line = 1;
  bool quoted = false, cell_was_quoted = false;
  auto bad = [&](const std::string& what) {
    fail(Code::Malformed, file_name + ":" + std::to_string(line) + ": " + what);
  };
  auto end_row = [&] {
    row.cells.push_back(std::move(cell));
    cell.clear();
    const bool blank = row.cells.size() == 1 && row.cells[0].empty() && !cell_was_quoted;
    if (!blank) rows.push_back(std::move(row));
    row = CsvRow{line + 1, {}};
    cell_was_quoted = false;
  };
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (quoted) {
      if (c == '"') {
        if (i + 1 < text.size() && text[i + 1] == '"') {
          cell += '"';
          ++i;
        } else {
          quoted = false;
        }
      } else {
        if (c == '\n') ++line;
        cell += c;
      }
      continue;
    }
    switch (c) {
      case '"':
        if (!cell.empty() || cell_was_quoted) bad("a quote inside an unquoted cell");
        quoted = cell_was_quoted = true;
        break;
      case ',':
        row.cells.push_back(std::move(cell));
        cell.clear();
        cell_was_quoted = false;
        break;
      case '\r':
        if (i + 1 < text.size() && text[i + 1] == '\n') break;  // CRLF: the LF ends the row
        cell += c;
        break;
      case '\n':
        end_row();
        ++line;
        break;
      default:
        if (cell_was_quoted) bad("text after a closing quote");
        cell += c;
    }
  }
  if (quoted) bad("unterminated quote");
  if (!cell.empty() || !row.cells.empty() || cell_was_quoted) end_row();
  return rows;
}

std::string csv_line(const std::vector<std::string>& cells) {
  std::string out;
  for (size_t i = 0; i < cells.size(); ++i) {
    if (i) out += ',';
    const std::string& c = cells[i];
    if (c.find_first_of(",\"\r\n") == std::string::npos) {
      out += c;
      continue;
    }
    out += '"';
    for (char ch : c) {
      if (ch == '"') out += '"';
      out += ch;
    }
    out += '"';
  }
  out += "\r\n";
  return out;
}

}  // namespace urbis::cli
