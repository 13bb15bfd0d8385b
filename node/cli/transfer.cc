// export and import: a space's entities as JSON, CSV or GeoJSON, and new
// entities from CSV. Import checks the whole file before writing anything,
// then writes one change per kImportBatch rows, all of them in ONE SQLite
// transaction (Replica::commit_group): all rows or none, so a kill -9 or a
// full disk half way leaves nothing imported and a re-run does not duplicate.
#include <algorithm>
#include <fstream>
#include <iterator>
#include <set>

#include "commands.h"
#include "csv.h"
#include "csv_import.h"
#include "fields.h"
#include "home.h"

namespace urbis::cli {
namespace {

constexpr size_t kImportBatch = 500;      // rows per change
constexpr size_t kProgressEvery = 10000;  // rows between progress lines on stderr
constexpr char kSetSeparator = kCsvSetSeparator;

// Every non-deleted entity of `space`, ordered by id, as of what every put
// and catch-up stored: what they left stale is refreshed first, waiting for
// the store's lock (an export shows nothing older than the store).
std::vector<Entity> all_entities(Replica& replica, const SpaceId& space) {
  check(replica.refresh());
  std::vector<EntityId> ids;
  Query q;
  q.sort = Query::Sort::Title;
  q.limit = 1000;
  for (;;) {
    FindResult page = check(replica.find(space, q));
    for (const Hit& h : page.hits) ids.push_back(h.id);
    q.offset += page.hits.size();
    if (page.hits.empty() || q.offset >= page.total) break;
  }
  std::sort(ids.begin(), ids.end());
  std::vector<Entity> out;
  out.reserve(ids.size());
  for (const EntityId& id : ids) out.push_back(check(replica.get(space, id)));
  return out;
}

std::string cell_text(const nlohmann::json& v) {
  if (v.is_null()) return "";
  return v.is_string() ? v.get<std::string>() : dump_json(v, -1);
}

std::string to_csv(const std::vector<Entity>& entities) {
  std::set<std::string> columns;
  for (const Entity& e : entities) {
    for (const auto& [name, r] : e.fields) columns.insert(name);
    for (const auto& [name, t] : e.texts)
      for (const auto& [loc, r] : t.locales) columns.insert(name + "@" + loc);
    for (const auto& [name, elems] : e.sets) columns.insert("+" + name);
  }
  std::vector<std::string> header = {"id", "type"};
  header.insert(header.end(), columns.begin(), columns.end());
  std::string out = csv_line(header);
  for (const Entity& e : entities) {
    std::vector<std::string> row = {e.id.hex(), e.type};
    for (const std::string& col : columns) {
      FieldRef ref = *parse_field_ref(col);
      std::string cell;
      if (ref.kind == FieldRef::Kind::Set) {
        if (auto it = e.fields.find(ref.field); it != e.fields.end()) cell = cell_text(it->second.winner.value);
      } else if (ref.kind == FieldRef::Kind::Text) {
        if (auto it = e.texts.find(ref.field); it != e.texts.end())
          if (auto l = it->second.locales.find(ref.locale); l != it->second.locales.end())
            cell = cell_text(l->second.winner.value);
      } else if (auto it = e.sets.find(ref.field); it != e.sets.end()) {
        for (const auto& elem : it->second) {
          if (!cell.empty()) cell += kSetSeparator;
          cell += cell_text(elem);
        }
      }
      row.push_back(std::move(cell));
    }
    out += csv_line(row);
  }
  return out;
}

std::optional<double> coordinate(const nlohmann::json& values, const char* name) {
  if (!values.contains(name)) return std::nullopt;
  const auto& v = values[name];
  if (v.is_number()) return v.get<double>();
  if (v.is_string()) {
    auto parsed = parse_value(v.get<std::string>());
    if (parsed.is_number()) return parsed.get<double>();
  }
  return std::nullopt;
}

nlohmann::json to_geojson(const std::vector<Entity>& entities, const std::string& lang) {
  nlohmann::json features = nlohmann::json::array();
  for (const Entity& e : entities) {
    if (e.type != "project") continue;
    nlohmann::json values = e.to_json(lang)["values"];
    auto lat = coordinate(values, "lat"), lon = coordinate(values, "lon");
    if (!lat || !lon || *lat < -90 || *lat > 90 || *lon < -180 || *lon > 180) continue;
    values.erase("lat");
    values.erase("lon");
    values["id"] = e.id.hex();
    values["type"] = e.type;
    features.push_back({{"type", "Feature"},
                        {"id", e.id.hex()},
                        {"geometry", {{"type", "Point"}, {"coordinates", {*lon, *lat}}}},
                        {"properties", std::move(values)}});
  }
  return {{"type", "FeatureCollection"}, {"features", std::move(features)}};
}

// Prints a progress line each time the rows read pass a multiple of kProgressEvery.
void report_progress(size_t before, size_t now, size_t total) {
  if (now / kProgressEvery != before / kProgressEvery)
    std::fprintf(stderr, "import: %zu of %zu rows read\n", now, total);
}

void write_stdout(const std::string& text) { std::fwrite(text.data(), 1, text.size(), stdout); }

}  // namespace

void run_export(const Context& ctx, const Args& args) {
  args.expect_positional(1, "export SPACE --format json|csv|geojson [--lang L]");
  const std::string format = args.value("--format").value_or("");
  if (format != "json" && format != "csv" && format != "geojson") usage_error("--format must be json, csv or geojson");
  const std::string lang = args.value("--lang").value_or("en");
  auto replica = open_home(ctx);
  SpaceId space = resolve_space(*replica, args.positional()[0]);
  std::vector<Entity> entities = all_entities(*replica, space);
  if (format == "csv") {
    write_stdout(to_csv(entities));
  } else if (format == "geojson") {
    write_stdout(dump_json(to_geojson(entities, lang)) + "\n");
  } else {
    nlohmann::json list = nlohmann::json::array();
    for (const Entity& e : entities) list.push_back(e.to_json(lang));
    write_stdout(dump_json({{"space", space.hex()}, {"entities", std::move(list)}}) + "\n");
  }
}

void run_import(const Context& ctx, const Args& args) {
  const char* usage = "import SPACE FILE.csv --type TYPE";
  args.expect_positional(2, usage);
  const auto type = args.value("--type");
  if (!type || type->empty()) usage_error(std::string("usage: urbis ") + usage);
  const std::string file = args.positional()[1];
  std::ifstream in(file, std::ios::binary);
  if (!in) fail(Code::NotFound, "cannot open " + file);
  const std::string text{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};

  // Check everything before asking for the passphrase or touching the store.
  const CsvImport csv = check_csv_import(text, file);
  auto replica = open_home(ctx);
  SpaceId space = resolve_space(*replica, args.positional()[0]);
  const size_t total = csv.entities();
  const bool progress = total >= kProgressEvery;
  std::vector<Transaction> changes =
      csv_import_transactions(*replica, space, *type, csv, kImportBatch, progress ? report_progress : nullptr);
  if (progress) {
    std::fprintf(stderr, "import: writing %zu rows in one transaction (all or none)\n", total);
    std::fflush(stderr);
  }
  auto committed = replica->commit_group(changes);
  if (!committed.is_ok()) fail(committed.code(), committed.status().message() + " (nothing imported)");
  refresh_for_reads(*replica);
  const size_t imported = total;
  // Rows of empty cells make no entity (CsvImport::filled).
  emit(ctx, {{"imported", imported}, {"skipped_empty_rows", csv.rows.size() - 1 - total}});
}

}  // namespace urbis::cli
