#include "urbis/entity.h"

namespace urbis {

const Register* TextField_pick(const TextField& t, std::string_view lang, std::string* shown) {
  for (std::string_view loc : {lang, std::string_view(t.original_locale), std::string_view("en")}) {
    if (loc.empty()) continue;
    auto it = t.locales.find(std::string(loc));
    if (it != t.locales.end()) {
      if (shown) *shown = it->first;
      return &it->second;
    }
  }
  if (t.locales.empty()) return nullptr;
  if (shown) *shown = t.locales.begin()->first;
  return &t.locales.begin()->second;
}

const Register* Entity::text(std::string_view field, std::string_view lang, std::string* shown_locale) const {
  auto it = texts.find(std::string(field));
  return it == texts.end() ? nullptr : TextField_pick(it->second, lang, shown_locale);
}

std::vector<std::string> Entity::missing_translations(std::string_view lang) const {
  std::vector<std::string> out;
  for (const auto& [name, t] : texts)
    if (!t.locales.count(std::string(lang))) out.push_back(name);
  return out;
}

std::vector<std::string> Entity::conflicted_fields() const {
  std::vector<std::string> out;
  for (const auto& [name, r] : fields)
    if (r.conflicted()) out.push_back(name);
  for (const auto& [name, t] : texts)
    for (const auto& [loc, r] : t.locales)
      if (r.conflicted()) out.push_back(name + "@" + loc);
  return out;
}

static nlohmann::json version_json(const Version& v) {
  return {{"value", v.value}, {"author", v.author.hex()}, {"hlc", v.hlc}, {"op", v.op.to_string()}};
}

nlohmann::json Entity::to_json(std::string_view lang) const {
  nlohmann::json out = {{"id", id.hex()}, {"type", type}, {"deleted", deleted}};
  nlohmann::json values = nlohmann::json::object();
  nlohmann::json translations = nlohmann::json::object();
  nlohmann::json conflicts = nlohmann::json::object();
  for (const auto& [name, r] : fields) {
    values[name] = r.winner.value;
    if (r.conflicted()) {
      auto& list = conflicts[name] = nlohmann::json::array({version_json(r.winner)});
      for (const auto& c : r.conflicts) list.push_back(version_json(c));
    }
  }
  for (const auto& [name, t] : texts) {
    std::string shown;
    if (const Register* r = text(name, lang, &shown)) values[name] = r->winner.value;
    nlohmann::json per = nlohmann::json::object();
    for (const auto& [loc, r] : t.locales) {
      per[loc] = r.winner.value;
      if (r.conflicted()) {
        auto& list = conflicts[name + "@" + loc] = nlohmann::json::array({version_json(r.winner)});
        for (const auto& c : r.conflicts) list.push_back(version_json(c));
      }
    }
    translations[name] = {{"original", t.original_locale}, {"shown", shown}, {"values", per}};
  }
  for (const auto& [name, elems] : sets) values[name] = elems;
  out["values"] = std::move(values);
  out["translations"] = std::move(translations);
  out["conflicts"] = std::move(conflicts);
  out["missing_translations"] = missing_translations(lang);
  return out;
}

}  // namespace urbis
