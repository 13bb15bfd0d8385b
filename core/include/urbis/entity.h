// The read model: an entity as a replica currently sees it, with every live
// value of every field (the winner and any concurrent conflicts), the
// per-locale values of translatable fields and the elements of set fields.
// Plain data; produced by Replica::get.
#pragma once

#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "urbis/types.h"

namespace urbis {

// Entity types are free strings (any type is stored and kept: forward
// compatibility). The ones the app and the tools write are listed in
// docs/DATA_MODEL.md, which splits DESIGN.md's `plan_item` into `milestone`,
// `task`, `risk` and `funding`, so that a type names exactly one kind.

// One value written by one op.
struct Version {
  nlohmann::json value;
  DeviceKey author;
  uint64_t hlc = 0;
  OpId op;
  std::string source_locale;  // translatable fields: the locale translated from ("" = original)
};

// A multi-value register: the displayed winner is the live value with the
// highest (hlc, author); the other live values are conflicts a person can
// resolve by writing a new value (which overwrites all of them).
struct Register {
  Version winner;
  std::vector<Version> conflicts;  // highest first
  bool conflicted() const { return !conflicts.empty(); }
};

struct TextField {
  std::map<std::string, Register> locales;  // locale -> register
  std::string original_locale;              // locale the text was first written in
};

struct Entity {
  EntityId id;
  std::string type;
  bool deleted = false;
  std::map<std::string, Register> fields;                   // plain fields
  std::map<std::string, TextField> texts;                   // translatable fields
  std::map<std::string, std::vector<nlohmann::json>> sets;  // observed-remove sets, sorted

  // The text of a translatable field for a reader of `lang`, falling back
  // requested -> original -> English -> any. `shown_locale` (optional) gets
  // the locale actually returned. nullptr when the field has no text.
  const Register* text(std::string_view field, std::string_view lang, std::string* shown_locale = nullptr) const;
  // Translatable fields that have no value in `lang`.
  std::vector<std::string> missing_translations(std::string_view lang) const;
  // Names of fields (plain, or "field@locale" for text) holding conflicts.
  std::vector<std::string> conflicted_fields() const;
  // A JSON view for tools and the JS API: values resolved for `lang` plus
  // translations, conflicts and missing translations.
  nlohmann::json to_json(std::string_view lang) const;
};

// A Discover query. Empty members do not filter.
struct Query {
  std::string type;                                        // entity type
  std::string text;                                        // full-text, every locale, prefix on last word
  std::vector<std::pair<std::string, std::string>> where;  // field == value (sets: contains)
  std::string lang = "en";                                 // for titles in hits
  enum class Sort { Relevance, Updated, Title } sort = Sort::Relevance;
  size_t limit = 20;  // 0: count only (FindResult::total, no hits)
  size_t offset = 0;
  bool include_deleted = false;
};

struct Hit {
  EntityId id;
  std::string type;
  std::string title;       // in the query's lang, with fallback
  nlohmann::json summary;  // winning values of all fields (texts as locale maps)
};

struct FindResult {
  size_t total = 0;  // matches before limit/offset
  std::vector<Hit> hits;
};

}  // namespace urbis
