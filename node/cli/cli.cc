// Shared pieces of the `urbis` commands: errors, argument words, output and
// value parsing (see cli.h).
#include "cli.h"

#include <fstream>

#include <algorithm>
#include <cstdio>

namespace urbis::cli {

void fail(Code code, std::string message) { throw CliError{code, std::move(message), kExitFailure}; }

void usage_error(std::string message) { throw CliError{Code::InvalidArgument, std::move(message), kExitUsage}; }

void Args::add_defaults(const Args& file) {
  for (const auto& [name, values] : file.options_) options_.try_emplace(name, values);
  flags_.insert(file.flags_.begin(), file.flags_.end());
}

Args read_config_file(const std::string& path, const std::vector<std::string>& valued,
                      const std::vector<std::string>& flags) {
  std::ifstream in(path);
  if (!in) usage_error("--config: cannot read '" + path + "'");
  auto trim = [](std::string t) {
    const auto b = t.find_first_not_of(" \t\r"), e = t.find_last_not_of(" \t\r");
    return b == std::string::npos ? std::string() : t.substr(b, e - b + 1);
  };
  std::vector<std::string> words;
  std::string line;
  for (int number = 1; std::getline(in, line); ++number) {
    auto where = [&] {
      std::string w = path;
      w += ':';
      w += std::to_string(number);
      w += ": ";
      return w;
    };
    line = trim(line);
    if (line.empty() || line[0] == '#') continue;
    const auto eq = line.find('=');
    if (eq == std::string::npos) usage_error(where() + "not a 'name = value' line");
    std::string name = "--";
    name += trim(line.substr(0, eq));
    const std::string value = trim(line.substr(eq + 1));
    const bool is_flag = std::find(flags.begin(), flags.end(), name) != flags.end();
    const bool is_valued = std::find(valued.begin(), valued.end(), name) != valued.end();
    if (name == "--config" || name == "--print-config" || (!is_flag && !is_valued)) {
      std::string known;
      for (const auto* list : {&valued, &flags})
        for (const std::string& o : *list)
          if (o != "--config" && o != "--print-config") {
            if (!known.empty()) known += ", ";
            known.append(o, 2);
          }
      usage_error(where() + "unknown setting '" + name.substr(2) + "' (settings: " + known + ")");
    }
    if (is_flag) {
      if (value == "true")
        words.push_back(name);
      else if (value != "false")
        usage_error(where() + name.substr(2) + " is true or false, not '" + value + "'");
      continue;
    }
    if (value.empty()) usage_error(where() + name.substr(2) + " needs a value");
    words.push_back(name);
    words.push_back(value);
  }
  return Args(words, valued, flags);
}

Args::Args(const std::vector<std::string>& words, const std::vector<std::string>& valued,
           const std::vector<std::string>& flags) {
  bool options_done = false;
  for (size_t i = 0; i < words.size(); ++i) {
    const std::string& w = words[i];
    if (options_done || w.size() < 2 || w.compare(0, 2, "--") != 0) {
      positional_.push_back(w);
      continue;
    }
    if (w == "--") {
      options_done = true;
      continue;
    }
    std::string name = w, value;
    bool has_value = false;
    if (auto eq = w.find('='); eq != std::string::npos) {
      name = w.substr(0, eq);
      value = w.substr(eq + 1);
      has_value = true;
    }
    if (name == "--help" || name == "--json") {
      if (has_value) usage_error(name + " takes no value");
      (name == "--help" ? help_ : json_) = true;
      continue;
    }
    if (std::find(flags.begin(), flags.end(), name) != flags.end()) {
      if (has_value) usage_error(name + " takes no value");
      flags_.insert(name);
      continue;
    }
    bool takes_value = false;
    for (const auto& v : valued) takes_value |= v == name;
    if (!takes_value) usage_error("unknown option " + name);
    if (!has_value) {
      if (i + 1 >= words.size()) usage_error(name + " needs a value");
      value = words[++i];
    }
    options_[name].push_back(std::move(value));
  }
}

void Args::expect_positional(size_t n, const char* usage) const {
  if (positional_.size() != n) usage_error(std::string("usage: urbis ") + usage);
}

std::optional<std::string> Args::value(const std::string& option) const {
  auto it = options_.find(option);
  if (it == options_.end()) return std::nullopt;
  return it->second.back();
}

std::vector<std::string> Args::values(const std::string& option) const {
  auto it = options_.find(option);
  return it == options_.end() ? std::vector<std::string>{} : it->second;
}

std::string dump_json(const nlohmann::json& j, int indent) {
  return j.dump(indent, ' ', false, nlohmann::json::error_handler_t::replace);
}

namespace {

std::string scalar_text(const nlohmann::json& j) { return j.is_string() ? j.get<std::string>() : dump_json(j, -1); }

bool is_leaf(const nlohmann::json& j) { return j.is_primitive() || j.empty(); }

void render(const nlohmann::json& j, int indent, std::string& out) {
  const std::string pad(static_cast<size_t>(indent), ' ');
  if (j.is_object()) {
    for (const auto& [key, v] : j.items()) {
      if (is_leaf(v)) {
        out += pad + key + ": " + (v.is_structured() ? dump_json(v, -1) : scalar_text(v)) + "\n";
      } else {
        out += pad + key + ":\n";
        render(v, indent + 2, out);
      }
    }
  } else if (j.is_array()) {
    for (const auto& v : j) {
      if (is_leaf(v)) {
        out += pad + "- " + (v.is_structured() ? dump_json(v, -1) : scalar_text(v)) + "\n";
      } else {
        out += pad + "-\n";
        render(v, indent + 2, out);
      }
    }
  } else {
    out += pad + scalar_text(j) + "\n";
  }
}

}  // namespace

void emit(const Context& ctx, const nlohmann::json& result) {
  std::string out;
  if (ctx.json) {
    out = dump_json(result) + "\n";
  } else {
    render(result, 0, out);
  }
  std::fwrite(out.data(), 1, out.size(), stdout);
}

nlohmann::json parse_value(const std::string& text) {
  nlohmann::json j = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (j.is_number() || j.is_boolean() || j.is_null() || j.is_string()) return j;
  return text;  // not JSON (discarded), or an array/object: kept as text
}

}  // namespace urbis::cli
