// urbis: the command line of an Urbis device (issue 3 is the contract).
//
//   urbis [--home DIR] [--json] COMMAND ARGS...
//
// Local commands (identity, spaces, entities, search, export and import on
// the local store) and the network ones: `sync` (a client session over
// WebSocket) and `node` (the sync node: HTTP, metrics, WebSocket sessions). Results go to stdout as JSON (with --json,
// or when stdout is not a terminal) or as readable text; errors go to stderr as "urbis: <Code>: <message>" with exit
// code 1, or 2 for a wrong command line.
#include <unistd.h>

#include <cstdio>
#include <exception>
#include <string>
#include <vector>

#include "cli/cli.h"
#include "cli/commands.h"

using namespace urbis;
using namespace urbis::cli;

namespace {

void print_usage(FILE* out) {
  std::string text =
      "usage: urbis [--home DIR] [--json] COMMAND ...\n\n"
      "Commands:\n";
  for (const Command& c : commands()) text += "  urbis " + c.usage + "\n      " + c.summary + "\n";
  text +=
      "\n--home defaults to $URBIS_HOME, then $XDG_DATA_HOME/urbis or ~/.local/share/urbis.\n"
      "The passphrase comes from $URBIS_PASSPHRASE, else a prompt when stdin is a terminal.\n"
      "Output is JSON with --json or when stdout is not a terminal; `urbis COMMAND --help` for one command.\n";
  std::fputs(text.c_str(), out);
}

// Runs the command named by `words` (everything after the global options).
void dispatch(Context& ctx, const std::vector<std::string>& words) {
  const std::string& first = words[0];
  // A subcommand ("space create") when one matches, else the command itself.
  const Command* match = nullptr;
  size_t used = 1;
  for (const Command& c : commands()) {
    if (words.size() >= 2 && c.name == first + " " + words[1]) {
      match = &c;
      used = 2;
      break;
    }
    if (c.name == first) match = &c;
  }
  if (!match) {
    std::string subcommands;
    for (const Command& c : commands())
      if (c.name.rfind(first + " ", 0) == 0) subcommands += "\n  urbis " + c.usage;
    if (!subcommands.empty()) {
      const bool asked = words.size() >= 2 && (words[1] == "--help" || words[1] == "-h");
      if (asked) {
        std::printf("usage:%s\n", subcommands.c_str());
        return;
      }
      usage_error("usage:" + subcommands);
    }
    usage_error("unknown command '" + first + "'; see 'urbis --help'");
  }
  Args args({words.begin() + static_cast<std::ptrdiff_t>(used), words.end()}, match->valued, match->flags);
  if (args.help()) {
    std::printf("usage: urbis [--home DIR] %s\n  %s\n", match->usage.c_str(), match->summary.c_str());
    return;
  }
  if (args.json()) ctx.json = true;
  match->run(ctx, args);
}

}  // namespace

int main(int argc, char** argv) {
  Context ctx;
  ctx.json = !isatty(STDOUT_FILENO);
  std::vector<std::string> words(argv + 1, argv + argc);
  try {
    size_t i = 0;
    for (; i < words.size() && words[i].rfind("--", 0) == 0; ++i) {
      const std::string& w = words[i];
      if (w == "--help" || w == "-h") {
        print_usage(stdout);
        return 0;
      } else if (w == "--json") {
        ctx.json = true;
      } else if (w == "--home") {
        if (i + 1 >= words.size()) usage_error("--home needs a directory");
        ctx.home_flag = words[++i];
      } else if (w.rfind("--home=", 0) == 0) {
        ctx.home_flag = w.substr(7);
      } else {
        usage_error("unknown option " + w + "; see 'urbis --help'");
      }
    }
    if (i == words.size()) {
      print_usage(stderr);
      return kExitUsage;
    }
    if (words[i] == "help") {
      print_usage(stdout);
      return 0;
    }
    dispatch(ctx, {words.begin() + static_cast<std::ptrdiff_t>(i), words.end()});
    return std::fflush(stdout) == 0 ? 0 : kExitFailure;
  } catch (const CliError& e) {
    std::fflush(stdout);
    const std::string label = e.label.empty() ? std::string(code_name(e.code)) : e.label;
    std::fprintf(stderr, "urbis: %s: %s\n", label.c_str(), e.message.c_str());
    return e.exit_code;
  } catch (const std::exception& e) {
    std::fflush(stdout);
    std::fprintf(stderr, "urbis: Internal: %s\n", e.what());
    return kExitFailure;
  }
}
