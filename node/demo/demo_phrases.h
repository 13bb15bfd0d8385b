// The phrase tables behind `urbis demo-data` (demo_data.cc): fictional
// countries, city-name morphemes, districts, and per-sector project, need and
// plan phrases, each written in the eight content languages of DESIGN.md.
// Plain constant data; the generator combines it with a seeded PRNG. Every
// country, city and organisation built from these tables is fictional.
#pragma once

#include <string>
#include <vector>

namespace urbis::cli::demo {

// The content languages, in the order of the tables below.
enum Lang : int { kKo, kZh, kAr, kRu, kTr, kEs, kFr, kEn, kLangCount };
// BCP 47 codes: "ko", "zh", "ar", "ru", "tr", "es", "fr", "en".
const char* locale(Lang lang);

// One text in every language. Designated initializers keep the order honest.
struct Text8 {
  const char* ko;
  const char* zh;
  const char* ar;
  const char* ru;
  const char* tr;
  const char* es;
  const char* fr;
  const char* en;
  const char* in(Lang lang) const;
};

// A fictional country: where its cities lie and what they speak.
struct Country {
  const char* name;    // English, ends in "(fictional)"
  const char* region;  // one of regions()
  Lang lang;
  int lat_e4, lon_e4;  // centre, in 1e-4 degrees
  int spread_e4;       // cities lie within +-spread of the centre
  const char* currency;
};

// Half of a city name: native script and Latin spelling.
struct Morpheme {
  const char* native;
  const char* latin;
};
// How one language builds city names: first + sep + second + suffix.
struct NamingRule {
  std::vector<Morpheme> first, second;
  const char* native_sep;
  const char* latin_sep;
  const char* native_suffix;  // "시", "市", or ""
};

struct Sector {
  const char* name;             // facet value: "mobility", ...
  std::vector<Text8> projects;  // project and practice title phrases
  Text8 objective;              // one sentence for summaries
  std::vector<Text8> needs;     // need titles
  std::vector<int> sdgs;        // the first is the sector's main goal
  std::vector<const char*> tags;
  const char* outcome;  // English, "%d" is a percentage
};

// A stakeholder organisation; "{city}" in a name is the project's city.
struct Organisation {
  Text8 name;
  const char* role;
};

struct Risk {
  Text8 title, mitigation;
};

const std::vector<const char*>& regions();
// Ordered so that any first few countries cover every region and language.
const std::vector<Country>& countries();
const NamingRule& naming(Lang lang);
const std::vector<Text8>& districts();
const std::vector<Sector>& sectors();
const std::vector<const char*>& stages();  // idea .. completed, in order

// Sentence templates with "{city}" and "{district}" slots.
const Text8& fictional_city();  // "Fictional demo city"
const Text8& need_description();
const Text8& practice_summary();

// Plan phrases.
const std::vector<Text8>& milestones();  // in the order a project reaches them
const std::vector<Text8>& tasks();
const std::vector<Organisation>& organisations();
const std::vector<Risk>& risks();
const std::vector<Text8>& comments();
const std::vector<const char*>& funding_sources();  // English
const std::vector<const char*>& partners();         // English
const std::vector<const char*>& people(Lang lang);  // fictional person names

// The readiness assessment (a `questionnaire`, docs/DATA_MODEL.md) after the
// Smart Cities Readiness Guide's framework: each responsibility of a city is
// a section, rated 1-5 on each enabler; a first section of general questions.
struct Labelled {
  const char* id;  // question, section or choice id (stable, ASCII)
  Text8 label;
};
struct ChoiceQuestion {
  const char* id;
  Text8 label;
  std::vector<Labelled> choices;
};
struct Readiness {
  Text8 title, description, scale;         // scale: what 1..5 mean
  Text8 general;                           // the first section's title
  ChoiceQuestion strategy;                 // single choice
  ChoiceQuestion barriers;                 // multiple choice
  Text8 staff;                             // number (optional)
  Text8 priority;                          // text (optional)
  std::vector<Labelled> responsibilities;  // sections
  std::vector<Labelled> enablers;          // the scale questions of each
  std::vector<Text8> answers;              // sample answers to `priority`
};
const Readiness& readiness();

// "{city}" / "{district}" replaced in `pattern`.
std::string fill(const char* pattern, const std::string& city, const std::string& district = "");

}  // namespace urbis::cli::demo
