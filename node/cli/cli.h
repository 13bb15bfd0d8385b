// The `urbis` command line: shared pieces of its commands (issue 3 is the
// contract). Errors end a command by throwing CliError, caught once in main
// and printed as "urbis: <Code>: <message>"; the core's Status values become
// CliError through check(). Nothing here is used outside node/.
#pragma once

#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "urbis/status.h"
#include "urbis/types.h"

namespace urbis::cli {

// Exit codes: 0 success, 1 a failed operation, 2 a wrong command line.
inline constexpr int kExitFailure = 1;
inline constexpr int kExitUsage = 2;

struct CliError {
  Code code = Code::Internal;
  std::string message;
  int exit_code = kExitFailure;
  // Printed instead of the code's name when set (e.g. "Network").
  std::string label = {};
};

[[noreturn]] void fail(Code code, std::string message);
[[noreturn]] void usage_error(std::string message);
inline void check(const Status& s) {
  if (!s.is_ok()) fail(s.code(), s.message().empty() ? std::string(code_name(s.code())) : s.message());
}
template <typename T>
T check(Result<T> r) {
  check(r.status());
  return std::move(r).value();
}

// Settings that hold for the whole invocation.
struct Context {
  std::optional<std::string> home_flag;  // --home DIR
  bool json = false;                     // --json, or stdout is not a terminal
};

// The words after a command name. Words starting with "--" are options
// ("--name value" or "--name=value"); "--" ends options; every other word,
// "-tags=x" included, is positional. --json and --help are always accepted.
class Args {
 public:
  // `valued`: options taking a value, e.g. {"--role", "--where"}; `flags`:
  // options taking none, e.g. {"--watch"}.
  Args(const std::vector<std::string>& words, const std::vector<std::string>& valued,
       const std::vector<std::string>& flags = {});

  const std::vector<std::string>& positional() const { return positional_; }
  // Exactly `n` positionals, or a usage error naming `usage`.
  void expect_positional(size_t n, const char* usage) const;
  std::optional<std::string> value(const std::string& option) const;  // last one given
  std::vector<std::string> values(const std::string& option) const;   // all, in order
  bool flag(const std::string& option) const { return flags_.count(option) > 0; }
  bool help() const { return help_; }
  bool json() const { return json_; }
  // Takes from `file` (a configuration file's settings) each option and
  // flag this command line did not give: the command line wins, per option
  // (a repeatable option given here replaces the file's values).
  void add_defaults(const Args& file);

 private:
  std::vector<std::string> positional_;
  std::map<std::string, std::vector<std::string>> options_;
  std::set<std::string> flags_;
  bool help_ = false, json_ = false;
};

// A configuration file as command-line options: each line `name = value`
// (name: an option of the command without its "--"; repeatable options on
// several lines; a flag's value true or false), blank lines and lines
// starting with '#' ignored. A name the command does not take, a malformed
// line or an unreadable file is a usage error naming the file and line.
Args read_config_file(const std::string& path, const std::vector<std::string>& valued,
                      const std::vector<std::string>& flags);

// Prints a command's result on stdout: JSON in JSON mode, otherwise a
// readable indented "key: value" rendering of the same document.
void emit(const Context& ctx, const nlohmann::json& result);
// JSON text that never throws on invalid UTF-8 (replaced with U+FFFD).
std::string dump_json(const nlohmann::json& j, int indent = 2);

// Parses a value given on the command line or in a CSV cell: numbers, true,
// false and null as JSON, a JSON string literal ("\"12\"") as that string,
// anything else as the text itself.
nlohmann::json parse_value(const std::string& text);

}  // namespace urbis::cli
