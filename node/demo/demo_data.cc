// `urbis demo-data SPACE [--cities N] [--projects N] [--seed S] [--today D]`: fills a
// space with a clearly labelled, fictional demo dataset — cities, projects,
// needs, best practices, the plans of some projects and a readiness
// assessment (a questionnaire) with the responses of part of the cities — as
// described in docs/DATA_MODEL.md.
//
// Generation and writing are separate. generate() is a pure function of
// (seed, cities, projects, the month it is seeded in; dates are relative to
// it): a splitmix64 stream per entity (so adding
// projects leaves the cities as they were) and the phrase tables of
// demo_phrases.cc give the same content, counts and field values on every
// run; only entity ids (random, from the core) differ. A reference to another
// entity is kept as the index of its record and becomes the hex id when the
// record it names has been created. write() then records each entity's ops in
// transactions of about kOpsPerChange ops and commits kChangesPerCommit of
// them at a time with Replica::commit_group (one SQLite commit, one fsync).
#include <algorithm>
#include <charconv>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <map>
#include <optional>
#include <set>

#include "commands.h"
#include "demo_phrases.h"
#include "home.h"
#include "net.h"

namespace urbis::cli {
namespace {

using namespace demo;
using nlohmann::json;

constexpr size_t kOpsPerChange = 100;          // a change closes after the entity that reaches this
constexpr size_t kChangesPerCommit = 50;       // changes per commit_group (~5,000 ops)
constexpr size_t kProgressMinEntities = 2000;  // smaller runs log no progress

// ---- deterministic randomness ------------------------------------------------

uint64_t mix64(uint64_t z) {
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

// splitmix64 (Steele, Lea, Flood 2014): small, fast, and the same sequence
// on every platform, unlike the <random> distributions.
class Rng {
 public:
  explicit Rng(uint64_t seed) : state_(seed) {}
  uint64_t next() { return mix64(state_ += 0x9E3779B97F4A7C15ull); }
  // Uniform in [0, n); n > 0. The modulo bias (< n / 2^64) does not matter here.
  size_t below(size_t n) { return static_cast<size_t>(next() % n); }
  int between(int lo, int hi) { return lo + static_cast<int>(below(static_cast<size_t>(hi - lo + 1))); }
  // True with probability percent / 100.
  bool percent(int p) { return below(100) < static_cast<size_t>(p); }
  // An index drawn with the given weights.
  size_t weighted(std::initializer_list<int> weights) {
    int total = 0;
    for (int w : weights) total += w;
    int x = static_cast<int>(below(static_cast<size_t>(total)));
    size_t i = 0;
    for (int w : weights) {
      if (x < w) return i;
      x -= w;
      ++i;
    }
    return i - 1;
  }
  // `k` distinct indices from [0, n), in random order (k <= n).
  std::vector<size_t> distinct(size_t n, size_t k) {
    std::vector<size_t> v(n);
    for (size_t i = 0; i < n; ++i) v[i] = i;
    for (size_t i = 0; i < k && i + 1 < n; ++i) std::swap(v[i], v[i + below(n - i)]);
    v.resize(std::min(k, n));
    return v;
  }

 private:
  uint64_t state_;
};

// Independent streams: one per (kind, index), so entity i of a kind is the
// same whatever the counts of the other kinds.
enum class Stream : uint64_t { City = 1, Project, Need, Practice, Plan, Response };
Rng stream(uint64_t seed, Stream kind, uint64_t index) {
  return Rng(mix64(mix64(seed ^ (static_cast<uint64_t>(kind) << 56)) + index));
}

// ---- the dataset as records of ops --------------------------------------------

struct Op {
  enum class Kind { Set, Text, Add } kind;
  std::string field;
  json value;
  std::string locale, source_locale;  // Text only
  int ref = -1;                       // >= 0: the value is the id of record `ref`
};

struct Record {
  const char* type;
  std::vector<Op> ops;
};

struct City {
  int record;
  const Country* country;
  Lang lang;
  std::string name, name_en;
  int lat_e4, lon_e4;
};

struct Project {
  int record;
  const City* city;
  int stage;
  int start_year;
  int64_t budget;
  bool english;  // has an English title: its plan items get English too
};

class Dataset {
 public:
  std::vector<Record> records;
  std::map<std::string, size_t> counts;  // by type

  int add(const char* type) {
    records.push_back({type, {}});
    counts[type] += 1;
    const int r = static_cast<int>(records.size() - 1);
    set(r, "demo", true);
    return r;
  }
  void set(int r, const char* field, json value) {
    records[r].ops.push_back({Op::Kind::Set, field, std::move(value), "", "", -1});
  }
  void ref(int r, const char* field, int target) {
    records[r].ops.push_back({Op::Kind::Set, field, nullptr, "", "", target});
  }
  void element(int r, const char* field, json value) {
    records[r].ops.push_back({Op::Kind::Add, field, std::move(value), "", "", -1});
  }
  // `text` in `lang`; a translation when `from` is another language.
  void text(int r, const char* field, Lang lang, std::string text, std::optional<Lang> from = std::nullopt) {
    records[r].ops.push_back(
        {Op::Kind::Text, field, std::move(text), locale(lang), from && *from != lang ? locale(*from) : "", -1});
  }
  // A table text in the original language and, when `english`, in English.
  void text8(int r, const char* field, const Text8& t, Lang lang, bool english, const std::string& city = "",
             const std::string& city_en = "") {
    text(r, field, lang, fill(t.in(lang), city));
    if (english && lang != kEn) text(r, field, kEn, fill(t.en, city_en), lang);
  }
};

double degrees(int e4) { return static_cast<double>(e4) / 10000.0; }

std::string two(int n) {
  char out[8];
  std::snprintf(out, sizeof out, "%02d", n);
  return out;
}
std::string iso_date(int year, int month, int day) { return std::to_string(year) + "-" + two(month) + "-" + two(day); }
// Months counted from January of year 0, and back.
int month_index(int year, int month) { return year * 12 + (month - 1); }
std::pair<int, int> year_month(int index) { return {index / 12, index % 12 + 1}; }

// "{district} {phrase}" or its equivalent in `lang`.
std::string project_title(Lang lang, const std::string& phrase, const std::string& district) {
  switch (lang) {
    case kKo: return district + " " + phrase;
    case kZh: return district + phrase;
    case kAr: return phrase + " في " + district;
    default: return phrase + " — " + district;
  }
}
std::string practice_title(Lang lang, const std::string& phrase, const std::string& city) {
  return project_title(lang, phrase, city);
}
std::string project_summary(Lang lang, const std::string& city, const std::string& district,
                            const std::string& objective) {
  switch (lang) {
    case kKo: return city + " " + district + ": " + objective;
    case kZh: return city + district + "：" + objective;
    case kAr: return city + "، " + district + ": " + objective;
    case kFr: return city + ", " + district + " : " + objective;
    default: return city + ", " + district + ": " + objective;
  }
}

std::vector<City> generate_cities(Dataset& d, uint64_t seed, size_t n) {
  std::vector<City> cities;
  cities.reserve(n);
  std::set<std::string> used;
  for (size_t i = 0; i < n; ++i) {
    Rng r = stream(seed, Stream::City, i);
    const Country& country = countries()[i % countries().size()];
    const NamingRule& rule = naming(country.lang);
    City c{-1, &country, country.lang, "", "", 0, 0};
    // A random unused name; when a language's combinations run out, a number.
    const size_t combos = rule.first.size() * rule.second.size(), start = r.below(combos);
    for (size_t round = 1; c.name.empty(); ++round) {
      for (size_t k = 0; k < combos; ++k) {
        const size_t idx = (start + k) % combos;
        const Morpheme &a = rule.first[idx / rule.second.size()], &b = rule.second[idx % rule.second.size()];
        std::string number;
        if (round > 1) number.append(" ").append(std::to_string(round));
        std::string latin = std::string(a.latin) + rule.latin_sep + b.latin + number;
        if (!used.insert(latin).second) continue;
        c.name = std::string(a.native) + rule.native_sep + b.native + rule.native_suffix + number;
        c.name_en = std::move(latin);
        break;
      }
    }
    c.lat_e4 = country.lat_e4 + r.between(-country.spread_e4, country.spread_e4);
    c.lon_e4 = country.lon_e4 + r.between(-country.spread_e4, country.spread_e4);
    const int population = r.percent(20) ? r.between(80, 999) * 10'000 : r.between(50, 999) * 1'000;

    c.record = d.add("city");
    d.text(c.record, "name", c.lang, c.name);
    if (c.lang != kEn) d.text(c.record, "name", kEn, c.name_en, c.lang);
    d.text(c.record, "description", c.lang, fictional_city().in(c.lang));
    if (c.lang != kEn)
      d.text(c.record, "description", kEn,
             std::string("Fictional demo city in ") + country.name + ". Demo data, not a real place.", c.lang);
    d.set(c.record, "country", country.name);
    d.set(c.record, "region", country.region);
    d.set(c.record, "language", locale(c.lang));
    d.set(c.record, "population", population);
    d.set(c.record, "lat", degrees(c.lat_e4));
    d.set(c.record, "lon", degrees(c.lon_e4));
    cities.push_back(std::move(c));
  }
  return cities;
}

// The fields every entity placed in a city carries: the reference and the
// city's region and country, copied for facets.
void place(Dataset& d, int r, const City& c) {
  d.ref(r, "city", c.record);
  d.set(r, "region", c.country->region);
  d.set(r, "country", c.country->name);
}

std::vector<Project> generate_projects(Dataset& d, uint64_t seed, size_t n, const std::vector<City>& cities,
                                       int year_shift) {
  std::vector<Project> projects;
  projects.reserve(n);
  for (size_t i = 0; i < n; ++i) {
    Rng r = stream(seed, Stream::Project, i);
    const City& city = cities[i < cities.size() ? i : r.below(cities.size())];
    const Lang lang = city.lang;
    const Sector& sector = sectors()[r.below(sectors().size())];
    const Text8& phrase = sector.projects[r.below(sector.projects.size())];
    const Text8& district = districts()[r.below(districts().size())];
    // Every tenth project has a plan, and is under way.
    const bool planned = i % 10 == 3;
    const int stage = planned ? r.between(1, 4) : static_cast<int>(r.weighted({10, 15, 12, 15, 20, 18, 10}));
    static const int first_year[] = {2025, 2023, 2022, 2021, 2019, 2016, 2014};
    static const int last_year[] = {2027, 2026, 2026, 2025, 2025, 2023, 2021};
    // The years as of 2026, moved to the year the demo is seeded in.
    const int start_year = r.between(first_year[stage], last_year[stage]) + year_shift;
    static const int64_t magnitude[] = {10'000, 100'000, 1'000'000};
    const int64_t budget = r.between(5, 100) * magnitude[r.weighted({30, 50, 20})];
    // Most originals have an English translation; some only of the title and
    // some none, so "missing in your language" shows.
    const bool english_title = lang == kEn || r.percent(88);
    const bool english_summary = english_title && (lang == kEn || r.percent(94));
    std::optional<Lang> extra;
    if (r.percent(8)) {
      extra = static_cast<Lang>(r.below(kLangCount - 1));
      if (*extra == lang || *extra == kEn) extra.reset();
    }

    const int p = d.add("project");
    std::vector<Lang> langs = {lang};
    if (lang != kEn && english_title) langs.push_back(kEn);
    if (extra) langs.push_back(*extra);
    for (Lang l : langs) {
      const bool original = l == lang;
      const std::string& city_name = original ? city.name : city.name_en;
      d.text(p, "title", l, project_title(l, phrase.in(l), district.in(l)), lang);
      if (original || l != kEn || english_summary)
        d.text(p, "summary", l, project_summary(l, city_name, district.in(l), sector.objective.in(l)), lang);
    }
    d.set(p, "sector", sector.name);
    d.set(p, "stage", stages()[static_cast<size_t>(stage)]);
    place(d, p, city);
    d.element(p, "sdgs", sector.sdgs[0]);
    for (size_t k = 1; k < sector.sdgs.size(); ++k)
      if (r.percent(50)) d.element(p, "sdgs", sector.sdgs[k]);
    d.set(p, "lat", degrees(city.lat_e4 + r.between(-600, 600)));
    d.set(p, "lon", degrees(city.lon_e4 + r.between(-600, 600)));
    d.set(p, "budget", budget);
    d.set(p, "currency", city.country->currency);
    d.set(p, "start_year", start_year);
    for (size_t t : r.distinct(sector.tags.size(), static_cast<size_t>(r.between(2, 3))))
      d.element(p, "tags", sector.tags[t]);
    // Partners: fictional organisations, the regional office, a sister city.
    std::vector<std::string> pool(partners().begin(), partners().end());
    pool.push_back(std::string("Urbis regional office, ") + city.country->region);
    const City& sister = cities[r.below(cities.size())];
    if (&sister != &city) pool.push_back("Sister city: " + sister.name_en);
    for (size_t k : r.distinct(pool.size(), static_cast<size_t>(r.between(1, 3)))) d.element(p, "partners", pool[k]);
    projects.push_back({p, &city, stage, start_year, budget, english_title});
  }
  return projects;
}

void generate_needs(Dataset& d, uint64_t seed, size_t n, const std::vector<City>& cities) {
  for (size_t i = 0; i < n; ++i) {
    Rng r = stream(seed, Stream::Need, i);
    const City& city = cities[r.below(cities.size())];
    const Sector& sector = sectors()[r.below(sectors().size())];
    const Text8& title = sector.needs[r.below(sector.needs.size())];
    const Text8& district = districts()[r.below(districts().size())];
    static const char* const urgency[] = {"low", "medium", "high", "critical"};
    const size_t level = r.weighted({25, 40, 25, 10});
    const bool english = city.lang == kEn || r.percent(80);

    const int e = d.add("need");
    d.text(e, "title", city.lang, title.in(city.lang));
    d.text(e, "description", city.lang, fill(need_description().in(city.lang), city.name, district.in(city.lang)));
    if (english && city.lang != kEn) {
      d.text(e, "title", kEn, title.en, city.lang);
      d.text(e, "description", kEn, fill(need_description().en, city.name_en, district.en), city.lang);
    }
    d.set(e, "sector", sector.name);
    place(d, e, city);
    d.set(e, "urgency", urgency[level]);
    d.element(e, "sdgs", sector.sdgs[0]);
  }
}

void generate_practices(Dataset& d, uint64_t seed, size_t n, const std::vector<City>& cities) {
  for (size_t i = 0; i < n; ++i) {
    Rng r = stream(seed, Stream::Practice, i);
    const City& city = cities[r.below(cities.size())];
    const Sector& sector = sectors()[r.below(sectors().size())];
    const Text8& phrase = sector.projects[r.below(sector.projects.size())];
    const bool english = city.lang == kEn || r.percent(90);
    char outcome[128];
    std::snprintf(outcome, sizeof outcome, sector.outcome, r.between(8, 45));

    const int e = d.add("practice");
    for (Lang l : {city.lang, kEn}) {
      if (l != city.lang && !english) continue;
      const std::string& name = l == city.lang ? city.name : city.name_en;
      d.text(e, "title", l, practice_title(l, phrase.in(l), name), city.lang);
      d.text(e, "summary", l, fill(practice_summary().in(l), name) + " " + sector.objective.in(l), city.lang);
      if (city.lang == kEn) break;
    }
    d.set(e, "sector", sector.name);
    place(d, e, city);
    d.element(e, "sdgs", sector.sdgs[0]);
    for (size_t k = 1; k < sector.sdgs.size(); ++k)
      if (r.percent(50)) d.element(e, "sdgs", sector.sdgs[k]);
    d.set(e, "outcome", outcome);
  }
}

// Milestones, tasks, stakeholders, risks, funding lines and comments of one
// project, in its city's language (and English when the project has it).
void generate_plan(Dataset& d, uint64_t seed, size_t index, const Project& p, int today) {
  Rng r = stream(seed, Stream::Plan, index);
  const City& city = *p.city;
  const Lang lang = city.lang;
  const bool english = p.english;
  const std::vector<const char*>& names = people(lang);

  // Milestones in order, a few months apart; those the stage has passed are
  // done. Dated from the day the demo is seeded (`today`, a month index):
  // the first open milestone falls due in the next 1-3 months, the done ones
  // before it; with all done, the last one was 1-3 months ago.
  const int k = r.between(4, 6);
  const int done = std::min(p.stage, k);  // planning 1 .. implementation 4
  std::vector<int> milestone_records, milestone_months;
  for (int m = 0, month = 0; m < k; ++m, month += r.between(3, 7)) milestone_months.push_back(month);
  const int anchor = done < k ? done : k - 1;
  const int shift =
      (done < k ? today + r.between(1, 3) : today - r.between(1, 3)) - milestone_months[static_cast<size_t>(anchor)];
  for (int& month : milestone_months) month += shift;
  for (int m = 0; m < k; ++m) {
    const auto [y, mo] = year_month(milestone_months[static_cast<size_t>(m)]);
    const int e = d.add("milestone");
    d.ref(e, "project", p.record);
    d.text8(e, "title", milestones()[static_cast<size_t>(m)], lang, english);
    d.set(e, "due", iso_date(y, mo, r.between(1, 28)));
    d.set(e, "done", m < done);
    milestone_records.push_back(e);
  }

  for (size_t t : r.distinct(tasks().size(), static_cast<size_t>(r.between(6, 10)))) {
    const int m = r.between(0, k - 1);
    static const char* const current[] = {"todo", "doing", "done"};  // tasks of the next milestone
    const char* status = m < done ? "done" : m > done ? "todo" : current[r.weighted({40, 40, 20})];
    const auto [y, mo] = year_month(milestone_months[static_cast<size_t>(m)] - r.between(0, 1));
    const int e = d.add("task");
    d.ref(e, "project", p.record);
    d.ref(e, "milestone", milestone_records[static_cast<size_t>(m)]);
    d.text8(e, "title", tasks()[t], lang, english);
    d.set(e, "status", status);
    d.set(e, "assignee", names[r.below(names.size())]);
    d.set(e, "due", iso_date(y, mo, r.between(1, 28)));
  }

  for (size_t o : r.distinct(organisations().size(), static_cast<size_t>(r.between(3, 6)))) {
    const Organisation& org = organisations()[o];
    const int e = d.add("stakeholder");
    d.ref(e, "project", p.record);
    d.text8(e, "name", org.name, lang, english, city.name, city.name_en);
    d.set(e, "role", org.role);
    d.set(e, "influence", r.between(1, 5));
    d.set(e, "interest", r.between(1, 5));
  }

  for (size_t k2 : r.distinct(risks().size(), static_cast<size_t>(r.between(2, 4)))) {
    const Risk& risk = risks()[k2];
    const int e = d.add("risk");
    d.ref(e, "project", p.record);
    d.text8(e, "title", risk.title, lang, english);
    d.set(e, "likelihood", r.between(1, 5));
    d.set(e, "impact", r.between(1, 5));
    d.text8(e, "mitigation", risk.mitigation, lang, english);
  }

  // Funding lines share the budget out, in thousands.
  const std::vector<size_t> sources = r.distinct(funding_sources().size(), static_cast<size_t>(r.between(1, 3)));
  std::vector<int64_t> weights;
  int64_t weight_sum = 0;
  for (size_t s = 0; s < sources.size(); ++s) weight_sum += weights.emplace_back(r.between(1, 10));
  int64_t left = p.budget;
  for (size_t s = 0; s < sources.size(); ++s) {
    const int64_t amount = s + 1 == sources.size() ? left : p.budget * weights[s] / weight_sum / 1000 * 1000;
    left -= amount;
    static const char* const early[] = {"planned", "requested"};
    static const char* const late[] = {"approved", "disbursed"};
    const int e = d.add("funding");
    d.ref(e, "project", p.record);
    d.set(e, "source", funding_sources()[sources[s]]);
    d.set(e, "amount", amount);
    d.set(e, "currency", city.country->currency);
    d.set(e, "status",
          p.stage <= 1   ? early[r.below(2)]
          : p.stage == 2 ? (r.percent(50) ? "requested" : "approved")
                         : late[r.below(2)]);
  }

  for (size_t c : r.distinct(comments().size(), static_cast<size_t>(r.between(2, 6)))) {
    const int e = d.add("comment");
    d.ref(e, "project", p.record);
    d.text(e, "text", lang, comments()[c].in(lang));
    d.set(e, "author", names[r.below(names.size())]);
    // Within the last year and a half, before the day it is seeded.
    const auto [y, mo] = year_month(today - r.between(1, 18));
    d.set(e, "at",
          iso_date(y, mo, r.between(1, 28)) + "T" + two(r.between(8, 18)) + ":" + two(r.between(0, 59)) + ":00Z");
  }
}

// The readiness assessment (demo_phrases.h, Readiness), published to every
// city: the questionnaire with its structure (a plain JSON field) and its
// labels (translatable fields s.SECTION, q.QUESTION, c.QUESTION.CHOICE, in
// the eight languages), and one response per city, as publishing in the web
// app makes them. About three cities in five have answered, in their own
// language; most of those have submitted (every question answered), the
// others are part-way. Answers: a.QUESTION (a set for multiple choice).
void generate_readiness(Dataset& d, uint64_t seed, const std::vector<City>& cities, int today) {
  const Readiness& rd = readiness();
  const int q = d.add("questionnaire");
  auto all_langs = [&](int r, const std::string& field, const Text8& t) {
    d.text(r, field.c_str(), kEn, t.en);
    for (int l = 0; l < kLangCount; ++l)
      if (l != kEn) d.text(r, field.c_str(), static_cast<Lang>(l), t.in(static_cast<Lang>(l)), kEn);
  };
  all_langs(q, "title", rd.title);
  all_langs(q, "description", rd.description);
  all_langs(q, "scale", rd.scale);
  json general = json::array();
  auto choice_question = [&](const ChoiceQuestion& cq, const char* kind) {
    json choices = json::array();
    for (const Labelled& c : cq.choices) {
      choices.push_back(c.id);
      all_langs(q, std::string("c.") + cq.id + "." + c.id, c.label);
    }
    all_langs(q, std::string("q.") + cq.id, cq.label);
    general.push_back({{"id", cq.id}, {"kind", kind}, {"choices", std::move(choices)}});
  };
  choice_question(rd.strategy, "single");
  choice_question(rd.barriers, "multiple");
  general.back()["optional"] = true;
  all_langs(q, "q.staff", rd.staff);
  general.push_back({{"id", "staff"}, {"kind", "number"}, {"optional", true}, {"min", 0}});
  all_langs(q, "q.priority", rd.priority);
  general.push_back({{"id", "priority"}, {"kind", "text"}, {"optional", true}});
  all_langs(q, "s.general", rd.general);
  json sections = json::array({{{"id", "general"}, {"questions", std::move(general)}}});
  for (const Labelled& resp : rd.responsibilities) {
    json questions = json::array();
    all_langs(q, std::string("s.") + resp.id, resp.label);
    for (const Labelled& en : rd.enablers) {
      const std::string id = std::string(resp.id) + "." + en.id;
      all_langs(q, "q." + id, en.label);
      questions.push_back({{"id", id}, {"kind", "scale"}});
    }
    sections.push_back({{"id", resp.id}, {"questions", std::move(questions)}});
  }
  d.set(q, "structure", {{"sections", std::move(sections)}});
  d.set(q, "kind", "readiness");
  d.set(q, "status", "published");
  d.set(q, "audience", "all");
  const auto [py, pm] = year_month(today - 2);
  d.set(q, "published_at", iso_date(py, pm, 1) + "T09:00:00Z");

  for (size_t i = 0; i < cities.size(); ++i) {
    const City& city = cities[i];
    Rng r = stream(seed, Stream::Response, i);
    const int e = d.add("response");
    d.ref(e, "questionnaire", q);
    place(d, e, city);
    const bool answered = r.percent(60);
    const bool submitted = answered && r.percent(75);
    d.set(e, "status", submitted ? "submitted" : "open");
    if (!answered) continue;
    const int share = submitted ? 100 : r.between(20, 80);  // of the questions answered
    d.set(e, "a.strategy", rd.strategy.choices[r.weighted({35, 40, 25})].id);
    for (size_t k : r.distinct(rd.barriers.choices.size(), static_cast<size_t>(r.between(1, 3))))
      d.element(e, "a.barriers", rd.barriers.choices[k].id);
    if (r.percent(share)) d.set(e, "a.staff", r.between(2, 120));
    if (r.percent(submitted ? 70 : 30)) d.set(e, "a.priority", rd.answers[r.below(rd.answers.size())].in(city.lang));
    // A city's maturity, give or take one per responsibility and enabler.
    const int base = r.between(1, 4);
    for (const Labelled& resp : rd.responsibilities) {
      const int lean = r.between(-1, 1);
      for (const Labelled& en : rd.enablers) {
        if (!r.percent(share)) continue;
        const int score = std::clamp(base + lean + r.between(-1, 1), 1, 5);
        d.set(e, (std::string("a.") + resp.id + "." + en.id).c_str(), score);
      }
    }
    if (submitted) {
      const auto [y, m] = year_month(today - r.between(0, 1));
      d.set(e, "submitted_at",
            iso_date(y, m, r.between(1, 28)) + "T" + two(r.between(8, 17)) + ":" + two(r.between(0, 59)) + ":00Z");
    }
  }
}

// `today`: the month index (month_index) of the day the demo is seeded.
Dataset generate(uint64_t seed, size_t n_cities, size_t n_projects, int today) {
  Dataset d;
  const std::vector<City> cities = generate_cities(d, seed, n_cities);
  const std::vector<Project> projects = generate_projects(d, seed, n_projects, cities, today / 12 - 2026);
  generate_needs(d, seed, n_projects / 8, cities);
  generate_practices(d, seed, n_projects / 12, cities);
  for (size_t i = 0; i < projects.size(); ++i)
    if (i % 10 == 3) generate_plan(d, seed, i, projects[i], today);
  generate_readiness(d, seed, cities, today);
  return d;
}

// ---- writing -------------------------------------------------------------------

struct Written {
  size_t ops = 0, changes = 0;
};

Written write(Replica& replica, const SpaceId& space, const Dataset& d) {
  using Clock = std::chrono::steady_clock;
  const auto started = Clock::now();
  const size_t total = d.records.size();
  const bool progress = total >= kProgressMinEntities;
  std::vector<EntityId> ids(total);
  std::vector<Transaction> group;
  Transaction tx = replica.begin(space);
  Written w;
  size_t logged_decile = 0;
  auto commit = [&](size_t done) {
    if (!tx.empty()) {
      group.push_back(std::move(tx));
      tx = replica.begin(space);
    }
    if (group.empty()) return;
    w.changes += check(replica.commit_group(group)).size();
    group.clear();
    const size_t decile = done * 10 / total;
    if (progress && decile > logged_decile) {
      logged_decile = decile;
      const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - started).count();
      log_event("info", "demo_data_progress",
                {{"percent", decile * 10}, {"entities", done}, {"of", total}, {"ops", w.ops}, {"elapsed_ms", ms}});
    }
  };
  for (size_t i = 0; i < total; ++i) {
    const Record& rec = d.records[i];
    const EntityId id = ids[i] = tx.create(rec.type);
    for (const Op& op : rec.ops) {
      json value = op.ref < 0 ? op.value : json(ids[static_cast<size_t>(op.ref)].hex());
      switch (op.kind) {
        case Op::Kind::Set: tx.set(id, op.field, std::move(value)); break;
        case Op::Kind::Text: tx.set_text(id, op.field, op.locale, value.get<std::string>(), op.source_locale); break;
        case Op::Kind::Add: tx.add(id, op.field, std::move(value)); break;
      }
    }
    w.ops += rec.ops.size();
    if (tx.size() >= kOpsPerChange) {
      group.push_back(std::move(tx));
      tx = replica.begin(space);
      if (group.size() >= kChangesPerCommit) commit(i + 1);
    }
  }
  commit(total);
  return w;
}

size_t count_option(const Args& args, const char* name, size_t fallback, size_t lo, size_t hi) {
  auto text = args.value(name);
  if (!text) return fallback;
  size_t n = 0;
  auto [end, ec] = std::from_chars(text->data(), text->data() + text->size(), n);
  if (ec != std::errc() || end != text->data() + text->size() || n < lo || n > hi)
    usage_error(std::string(name) + " takes a number from " + std::to_string(lo) + " to " + std::to_string(hi));
  return n;
}

}  // namespace

void run_demo_data(const Context& ctx, const Args& args) {
  args.expect_positional(1, "demo-data SPACE [--cities N] [--projects N] [--seed S] [--today YYYY-MM-DD]");
  const size_t n_cities = count_option(args, "--cities", 175, 1, 1000);
  const size_t n_projects = count_option(args, "--projects", 3000, 0, 100'000);
  uint64_t seed = 1;
  if (auto text = args.value("--seed")) {
    auto [end, ec] = std::from_chars(text->data(), text->data() + text->size(), seed);
    if (ec != std::errc() || end != text->data() + text->size())
      usage_error("--seed takes a number from 0 to 18446744073709551615");
  }

  // Dates are relative to the day the demo is seeded (today, UTC, unless
  // --today names another), so plans are under way, not all overdue.
  int year = 0, month = 0, day = 0;
  if (auto text = args.value("--today")) {
    if (std::sscanf(text->c_str(), "%4d-%2d-%2d", &year, &month, &day) != 3 || text->size() != 10 || year < 2000 ||
        year > 2200 || month < 1 || month > 12 || day < 1 || day > 31)
      usage_error("--today takes a date YYYY-MM-DD (2000 to 2200), not '" + *text + "'");
  } else {
    const std::time_t now = std::time(nullptr);
    std::tm utc{};
    gmtime_r(&now, &utc);
    year = utc.tm_year + 1900, month = utc.tm_mon + 1, day = utc.tm_mday;
  }

  auto replica = open_home(ctx);
  const SpaceId space = resolve_space(*replica, args.positional()[0]);
  const SpaceInfo info = check(replica->space(space));
  if (info.my_role < Role::Editor)
    fail(Code::Forbidden,
         "demo-data writes cities, projects and plans, which needs the editor or admin role in "
         "space " +
             space.hex() + "; this device is " +
             (info.my_role == Role::None ? "not a member" : "a " + std::string(role_name(info.my_role))));
  // One dataset per space: a second run would duplicate every entity.
  Query marked;
  marked.where = {{"demo", "true"}};
  marked.limit = 1;
  if (const size_t existing = check(replica->find(space, marked)).total)
    fail(Code::InvalidArgument, "space " + space.hex() + " already holds demo data (" + std::to_string(existing) +
                                    " entities with demo=true); fill a new space instead");

  const auto started = std::chrono::steady_clock::now();
  const Dataset d = generate(seed, n_cities, n_projects, month_index(year, month));
  const Written w = write(*replica, space, d);
  refresh_for_reads(*replica);  // Discover's summaries and text, before the command ends
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();

  json out = {{"space", space.hex()}, {"seed", seed}, {"today", iso_date(year, month, day)}};
  static const std::pair<const char*, const char*> kinds[] = {{"cities", "city"},
                                                              {"projects", "project"},
                                                              {"needs", "need"},
                                                              {"practices", "practice"},
                                                              {"milestones", "milestone"},
                                                              {"tasks", "task"},
                                                              {"stakeholders", "stakeholder"},
                                                              {"risks", "risk"},
                                                              {"funding", "funding"},
                                                              {"comments", "comment"},
                                                              {"questionnaires", "questionnaire"},
                                                              {"responses", "response"}};
  for (const auto& [key, type] : kinds) {
    auto it = d.counts.find(type);
    out[key] = it == d.counts.end() ? 0 : it->second;
  }
  out["entities"] = d.records.size();
  out["ops"] = w.ops;
  out["changes"] = w.changes;
  out["seconds"] = static_cast<double>(static_cast<int64_t>(seconds * 100)) / 100;
  emit(ctx, out);
}

}  // namespace urbis::cli
