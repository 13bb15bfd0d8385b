// Shared pieces of the `urbis` commands: errors, argument words, output and
// value parsing (see cli.h).
#include "cli.h"

#include <algorithm>
#include <cstdio>

namespace urbis::cli {

void fail(Code code, std::string message) { throw CliError{code, std::move(message), kExitFailure}; }

void usage_error(std::string message) {
  throw CliError{Code::InvalidArgument, std::move(message), kExitUsage};
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

std::string scalar_text(const nlohmann::json& j) {
  return j.is_string() ? j.get<std::string>() : dump_json(j, -1);
}

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
