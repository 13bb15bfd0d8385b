// The `urbis` commands that work on the local store alone: init, space,
// put, get, delete, find and state-hash (export/import are in transfer.cc).
#include "commands.h"

#include <algorithm>
#include <charconv>

#include "fields.h"
#include "home.h"

namespace urbis::cli {

SpaceId resolve_space(Replica& replica, const std::string& text) {
  if (auto id = SpaceId::from_hex(text)) return *id;
  std::optional<SpaceId> found;
  for (const SpaceInfo& s : check(replica.spaces())) {
    if (s.name != text) continue;
    if (found) fail(Code::InvalidArgument, "more than one space is named '" + text + "'; use its id");
    found = s.id;
  }
  if (!found) fail(Code::UnknownSpace, "no space with id or name '" + text + "'");
  return *found;
}

EntityId parse_entity_id(const std::string& text) {
  auto id = EntityId::from_hex(text);
  if (!id) usage_error("'" + text + "' is not an entity id (32 hex digits)");
  return *id;
}

namespace {

DeviceKey parse_device(const std::string& text) {
  auto key = DeviceKey::from_hex(text);
  if (!key) usage_error("'" + text + "' is not a device key (64 hex digits)");
  return *key;
}

// The entity `id`, which must exist with type `type`.
Entity get_typed(Replica& replica, const SpaceId& space, const std::string& type, const EntityId& id) {
  Entity e = check(replica.get(space, id));
  if (e.type != type) fail(Code::NotFound, "entity " + id.hex() + " is a " + e.type + ", not a " + type);
  return e;
}

void run_init(const Context& ctx, const Args& args) {
  args.expect_positional(0, "init [--name NAME]");
  DeviceKey device = init_home(ctx, args.value("--name").value_or(""));
  emit(ctx, {{"device", device.hex()}});
}

void run_space_create(const Context& ctx, const Args& args) {
  args.expect_positional(1, "space create NAME");
  auto replica = open_home(ctx);
  SpaceId space = check(replica->create_space(args.positional()[0]));
  emit(ctx, {{"space", space.hex()}});
}

// --scope CITY_ID[,CITY_ID...] (repeatable, the lists add up): the ids of
// `city` entities a role is limited to. Checked for form before the
// passphrase is asked for; duplicates are dropped.
std::vector<EntityId> parse_scope(const Args& args) {
  std::vector<EntityId> scope;
  for (const std::string& list : args.values("--scope")) {
    size_t start = 0;
    for (;;) {
      const size_t comma = list.find(',', start);
      const std::string item = list.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
      auto id = EntityId::from_hex(item);
      if (!id || item.size() != 32)
        usage_error(
            "--scope takes ids of city entities, 32 hex digits each, separated by commas (from 'urbis "
            "find SPACE --type city'); '" +
            item + "' is not one");
      if (std::find(scope.begin(), scope.end(), *id) == scope.end()) scope.push_back(*id);
      if (comma == std::string::npos) break;
      start = comma + 1;
    }
  }
  return scope;
}

// A city's name for people reading `space members`: its English name, else
// any; empty when this replica does not hold the city (yet).
std::string city_name(Replica& replica, const SpaceId& space, const EntityId& id) {
  auto e = replica.get(space, id);
  if (!e.is_ok()) return "";
  auto it = e->texts.find("name");
  if (it == e->texts.end() || it->second.locales.empty()) return "";
  auto en = it->second.locales.find("en");
  const auto& value = (en != it->second.locales.end() ? en : it->second.locales.begin())->second.winner.value;
  return value.is_string() ? value.get<std::string>() : "";
}

nlohmann::json scope_json(Replica& replica, const SpaceId& space, const std::vector<EntityId>& scope) {
  nlohmann::json out = nlohmann::json::array();
  for (const EntityId& city : scope) out.push_back({{"city", city.hex()}, {"name", city_name(replica, space, city)}});
  return out;
}

void run_space_add_member(const Context& ctx, const Args& args) {
  const char* usage =
      "space add-member SPACE DEVICE --role admin|editor|commenter|viewer [--scope CITY_ID[,CITY_ID...]]";
  args.expect_positional(2, usage);
  auto role_text = args.value("--role");
  if (!role_text) usage_error(std::string("usage: urbis ") + usage);
  auto role = role_from_name(*role_text);
  if (!role || *role == Role::None) usage_error("--role must be admin, editor, commenter or viewer");
  DeviceKey device = parse_device(args.positional()[1]);
  const std::vector<EntityId> scope = parse_scope(args);
  auto replica = open_home(ctx);
  SpaceId space = resolve_space(*replica, args.positional()[0]);
  // A scope names cities this replica holds: a typo, or the id of a project,
  // would otherwise limit the member to nothing they can edit.
  for (const EntityId& city : scope) {
    auto e = replica->get(space, city);
    if (!e.is_ok() && e.code() == Code::NotFound)
      fail(Code::NotFound, "--scope: no city " + city.hex() + " in this space (sync first if it was just made " +
                               "elsewhere; 'urbis find SPACE --type city' lists the cities)");
    check(e.status());
    if (e->type != "city")
      fail(Code::InvalidArgument, "--scope: entity " + city.hex() + " is a " + e->type + ", not a city");
    if (e->deleted) fail(Code::InvalidArgument, "--scope: city " + city.hex() + " was deleted");
  }
  check(replica->set_role(space, device, *role, scope));
  emit(ctx, {{"space", space.hex()},
             {"device", device.hex()},
             {"role", role_name(*role)},
             {"scope", scope_json(*replica, space, scope)}});
}

void run_space_remove_member(const Context& ctx, const Args& args) {
  args.expect_positional(2, "space remove-member SPACE DEVICE");
  auto replica = open_home(ctx);
  SpaceId space = resolve_space(*replica, args.positional()[0]);
  DeviceKey device = parse_device(args.positional()[1]);
  check(replica->remove_member(space, device));
  emit(ctx, {{"space", space.hex()}, {"device", device.hex()}, {"role", role_name(Role::None)}});
}

void run_space_list(const Context& ctx, const Args& args) {
  args.expect_positional(0, "space list");
  auto replica = open_home(ctx);
  nlohmann::json list = nlohmann::json::array();
  for (const SpaceInfo& s : check(replica->spaces()))
    list.push_back({{"space", s.id.hex()}, {"name", s.name}, {"epoch", s.epoch}, {"role", role_name(s.my_role)}});
  emit(ctx, {{"spaces", std::move(list)}});
}

void run_space_members(const Context& ctx, const Args& args) {
  args.expect_positional(1, "space members SPACE");
  auto replica = open_home(ctx);
  SpaceId space = resolve_space(*replica, args.positional()[0]);
  nlohmann::json members = nlohmann::json::array(), invites = nlohmann::json::array();
  // Pending invites are listed apart, each marked pending with its expiry:
  // an invite key is not a person yet (its code may never be redeemed).
  for (const Member& m : check(replica->members(space))) {
    if (m.invite_expires_ms)
      invites.push_back({{"key", m.device.hex()},
                         {"role", role_name(m.role)},
                         {"pending", true},
                         {"expires", utc_time_text(m.invite_expires_ms)},
                         {"scope", scope_json(*replica, space, m.scope)}});
    else
      members.push_back(
          {{"device", m.device.hex()}, {"role", role_name(m.role)}, {"scope", scope_json(*replica, space, m.scope)}});
  }
  emit(ctx, {{"members", std::move(members)}, {"invites", std::move(invites)}});
}

void run_put(const Context& ctx, const Args& args) {
  const auto& pos = args.positional();
  if (pos.size() < 3)
    usage_error("usage: urbis put SPACE TYPE ID|new field=value field@LOCALE=value +set=x -set=x ...");
  // Checked before the passphrase is asked for.
  std::vector<std::pair<FieldRef, std::string>> assignments;
  for (size_t i = 3; i < pos.size(); ++i) {
    auto eq = pos[i].find('=');
    std::optional<FieldRef> ref = eq == std::string::npos ? std::nullopt : parse_field_ref(pos[i].substr(0, eq));
    if (!ref) usage_error("'" + pos[i] + "' is not field=value, field@LOCALE=value, +field=value or -field=value");
    assignments.emplace_back(*ref, pos[i].substr(eq + 1));
  }
  const bool create = pos[2] == "new";
  if (!create && assignments.empty()) usage_error("nothing to put: give field=value pairs");
  std::optional<EntityId> given;
  if (!create) given = parse_entity_id(pos[2]);

  auto replica = open_home(ctx);
  SpaceId space = resolve_space(*replica, pos[0]);
  Transaction tx = replica->begin(space);
  EntityId id = create ? tx.create(pos[1]) : *given;
  if (!create) (void)get_typed(*replica, space, pos[1], id);
  for (const auto& [ref, value] : assignments) record(tx, id, ref, value);
  CommitInfo info = check(replica->commit(tx));
  refresh_for_reads(*replica);
  emit(ctx, {{"id", id.hex()}, {"type", pos[1]}, {"seq", info.seq}});
}

void run_get(const Context& ctx, const Args& args) {
  args.expect_positional(3, "get SPACE TYPE ID [--lang L]");
  const auto& pos = args.positional();
  EntityId id = parse_entity_id(pos[2]);
  auto replica = open_home(ctx);
  SpaceId space = resolve_space(*replica, pos[0]);
  Entity e = get_typed(*replica, space, pos[1], id);
  emit(ctx, e.to_json(args.value("--lang").value_or("en")));
}

void run_delete(const Context& ctx, const Args& args) {
  args.expect_positional(3, "delete SPACE TYPE ID");
  const auto& pos = args.positional();
  EntityId id = parse_entity_id(pos[2]);
  auto replica = open_home(ctx);
  SpaceId space = resolve_space(*replica, pos[0]);
  (void)get_typed(*replica, space, pos[1], id);
  Transaction tx = replica->begin(space);
  tx.remove_entity(id);
  CommitInfo info = check(replica->commit(tx));
  refresh_for_reads(*replica);
  emit(ctx, {{"deleted", id.hex()}, {"seq", info.seq}});
}

void run_find(const Context& ctx, const Args& args) {
  args.expect_positional(1, "find SPACE [--type T] [--text Q] [--where field=value]... [--lang L] [--limit N]");
  Query q;
  q.type = args.value("--type").value_or("");
  q.text = args.value("--text").value_or("");
  q.lang = args.value("--lang").value_or("en");
  for (const std::string& w : args.values("--where")) {
    auto eq = w.find('=');
    if (eq == std::string::npos || eq == 0) usage_error("--where takes field=value, not '" + w + "'");
    q.where.emplace_back(w.substr(0, eq), w.substr(eq + 1));
  }
  if (auto limit = args.value("--limit")) {
    size_t n = 0;
    auto [end, ec] = std::from_chars(limit->data(), limit->data() + limit->size(), n);
    if (ec != std::errc() || end != limit->data() + limit->size() || n == 0 || n > 1000)
      usage_error("--limit takes a number from 1 to 1000");
    q.limit = n;
  }
  auto replica = open_home(ctx);
  SpaceId space = resolve_space(*replica, args.positional()[0]);
  FindResult found = check(replica->find(space, q));
  nlohmann::json hits = nlohmann::json::array();
  for (const Hit& h : found.hits)
    hits.push_back({{"id", h.id.hex()}, {"type", h.type}, {"title", h.title}, {"summary", h.summary}});
  emit(ctx, {{"total", found.total}, {"hits", std::move(hits)}});
}

void run_state_hash(const Context& ctx, const Args& args) {
  args.expect_positional(1, "state-hash SPACE");
  auto replica = open_home(ctx);
  SpaceId space = resolve_space(*replica, args.positional()[0]);
  emit(ctx, {{"space", space.hex()}, {"state_hash", check(replica->state_hash(space)).hex()}});
}

// Opening already refuses a store with a missing table and quick-checks a
// small one; this reads every page of a store of any size.
void run_check(const Context& ctx, const Args& args) {
  args.expect_positional(0, "check");
  auto replica = open_home(ctx);
  check(replica->check_integrity());
  emit(ctx, {{"store", (resolve_home(ctx) / "replica.db").string()}, {"ok", true}});
}

}  // namespace

const std::vector<Command>& commands() {
  static const std::vector<Command> table = {
      {"init", "init [--name NAME]", "create this device's identity and store", {"--name"}, run_init},
      {"space create", "space create NAME", "create a space with this device as admin", {}, run_space_create},
      {"space add-member",
       "space add-member SPACE DEVICE --role admin|editor|commenter|viewer [--scope CITY_ID[,CITY_ID...]]",
       "add a member or change a role (admin only); --scope limits the role to those cities (ids of city\n"
       "      entities; without it: the whole space, also when changing a scoped role)",
       {"--role", "--scope"},
       run_space_add_member},
      {"space remove-member",
       "space remove-member SPACE DEVICE",
       "remove a member (admin only)",
       {},
       run_space_remove_member},
      {"space list", "space list", "list the spaces this store holds", {}, run_space_list},
      {"space members",
       "space members SPACE",
       "list the members (role, city scope; an empty scope is the whole space) and the pending invites (with\n"
       "      their expiry) of a space",
       {},
       run_space_members},
      {"space invite",
       "space invite SPACE --role admin|editor|commenter|viewer [--ttl SECONDS] [--witness NODE_KEY]...",
       "make an invite code (admin only; --ttl defaults to 7 days). The code is redeemed through its witness "
       "node, which dates the join: by default the node that last served the space to this home; sync again before "
       "sharing it",
       {"--role", "--ttl", "--witness"},
       run_space_invite},
      {"space join",
       "space join CODE ws[s]://HOST:PORT/sync [--ca-file FILE]",
       "join a space with an invite code, through the node at the URL",
       {"--ca-file"},
       run_space_join},
      {"space revoke-invite",
       "space revoke-invite SPACE KEY|CODE",
       "revoke a pending invite, named by its key (from 'space members') or its code (admin only); sync to\n"
       "      take the revocation to the node, after which the code no longer joins",
       {},
       run_space_revoke_invite},
      {"put",
       "put SPACE TYPE ID|new field=value field@LOCALE=value +set=x -set=x ...",
       "write fields of an entity in one change (ID new creates one)",
       {},
       run_put},
      {"get", "get SPACE TYPE ID [--lang L]", "an entity with translations and conflicts", {"--lang"}, run_get},
      {"delete", "delete SPACE TYPE ID", "delete an entity", {}, run_delete},
      {"find",
       "find SPACE [--type T] [--text Q] [--where field=value]... [--lang L] [--limit N]",
       "search entities",
       {"--type", "--text", "--where", "--lang", "--limit"},
       run_find},
      {"state-hash", "state-hash SPACE", "hash of the space's state (equal on converged replicas)", {}, run_state_hash},
      {"export",
       "export SPACE --format json|csv|geojson [--lang L]",
       "print every entity (geojson: projects with lat/lon)",
       {"--format", "--lang"},
       run_export},
      {"import",
       "import SPACE FILE.csv --type TYPE",
       "create one entity per CSV row; all rows or none (one transaction; progress on stderr)",
       {"--type"},
       run_import},
      {"device rekey",
       "device rekey",
       "give this device a new key when its chain forked (home restored from a backup or copied; sync says\n"
       "      BrokenChain): the old key and store move to HOME/forked/, nothing is deleted; prints what to do",
       {},
       run_device_rekey},
      {"device republish",
       "device republish [--from DIR]",
       "after rekey, an admin adding the new key and a sync: re-write the forked store's unsynced work under\n"
       "      the new key (then sync)",
       {"--from"},
       run_device_republish},
      {"check",
       "check",
       "read every page of this device's store and check its schema (exit 1 if damaged)",
       {},
       run_check},
      {"demo-data",
       "demo-data SPACE [--cities N] [--projects N] [--seed S] [--today YYYY-MM-DD]",
       "fill a space with fictional demo cities, projects, needs, practices and plans (the same for the same seed and "
       "day; "
       "editor or admin); dates are relative to --today (default: today, UTC)",
       {"--cities", "--projects", "--seed", "--today"},
       run_demo_data},
      {"sync",
       "sync ws[s]://HOST:PORT/sync [--watch] [--space SPACE]... [--ca-file FILE]",
       "sync every local space, and every space the node serves this device, with a node; --watch stays live;\n"
       "      wss:// verifies the node's certificate against the system's store, or --ca-file",
       {"--space", "--ca-file"},
       run_sync,
       {"--watch"}},
      {"node",
       kNodeUsage,
       "run a sync node (HTTP /healthz /readyz /metrics, static --web files, WebSocket /sync, links to --peer\n"
       "      nodes) until SIGTERM. /readyz answers 503 once stopping or when the store fails a read; with\n"
       "      --drain-seconds N (0..300, default 0) the node first spends N s not ready, refusing new sessions\n"
       "      (503) while open ones go on (a second signal stops it at once). Logs are\n"
       "      JSON lines on stderr, from --log-level (debug|info|warn|error, default info); under systemd they\n"
       "      carry the journal's priority, and the node tells systemd READY=1 and STOPPING=1 (Type=notify).\n"
       "      --config FILE: every flag as 'name = value' lines (repeatable ones on several lines; flags\n"
       "      true/false), the command line winning per flag; --print-config prints the effective settings. --peer URL "
       "links to another node (repeatable; reconnects with backoff up to\n"
       "      --peer-retry-max 30 s); --trust-peer NODE_KEY serves that node every space (repeatable).\n"
       "      TLS: --tls-cert CHAIN.pem --tls-key KEY.pem listen with TLS only (https://, wss://), the pair\n"
       "      reloaded on SIGHUP; wss:// peers are verified against the system's store or --ca-file CA.pem.\n"
       "      New spaces: a space the node does not hold is created only by its creator's own genesis, and\n"
       "      only by a --space-creator DEVICE_KEY (repeatable), a member of a space the node already holds\n"
       "      or a trusted peer; --open-spaces lets any device create spaces (the old behaviour).\n"
       "      Limits (0 for a rate: none): --max-connections 10000 sync connections (beyond: HTTP 503);\n"
       "      per connection --max-frames-per-second 2000 (beyond: Error RateLimited, close 1013) and\n"
       "      --max-bytes-per-second 67108864 (beyond: reads slow down); --max-frame-bytes 17825792;\n"
       "      --max-batch-envelopes 4096 per Changes frame and --max-spaces 10000 per Want and per\n"
       "      session (beyond: Error TooLarge); --max-held-changes 100000 per space waiting for a\n"
       "      predecessor (beyond: TooLarge)",
       {"--listen", "--web", "--max-frame-bytes", "--max-connections", "--max-frames-per-second",
        "--max-bytes-per-second", "--max-batch-envelopes", "--max-spaces", "--max-held-changes", "--peer",
        "--trust-peer", "--peer-retry-max", "--space-creator", "--log-level", "--config", "--drain-seconds",
        "--tls-cert", "--tls-key", "--ca-file"},
       run_node,
       {"--open-spaces", "--print-config"}},
      {"node key",
       "node key",
       "print the key this node authenticates with (the device key on a home holding an identity, else\n"
       "      HOME/node.key), which other nodes trust with --trust-peer",
       {},
       run_node_key},
      {"node backup",
       "node backup DIR",
       "copy this node's home into DIR (new, or empty) while the node serves: its store as one consistent\n"
       "      snapshot, checked, and its key files. DIR is a home: to restore, start the node on it\n"
       "      (docs/operations.md); devices and peers send again what came after the backup",
       {},
       run_node_backup},
  };
  return table;
}

}  // namespace urbis::cli
