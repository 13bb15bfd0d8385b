// The browser client's methods (client.h). Parameters arrive as JSON from
// the worker; ids travel as lower-case hex, spaces also by local name.
#include "client.h"

#include "dirty_vfs.h"

#include <algorithm>
#include <iterator>
#include <string_view>
#include <unordered_map>

#include <sodium.h>

#include "urbis/envelope.h"
#include "urbis/field_ref.h"

namespace urbis::wasm {
namespace {

using nlohmann::json;

Status invalid(std::string message) { return {Code::InvalidArgument, std::move(message)}; }

// The string member `key` of `p`; InvalidArgument when missing or not a string.
Result<std::string> str(const json& p, const char* key) {
  auto it = p.find(key);
  if (it == p.end() || !it->is_string()) return invalid(std::string("'") + key + "' must be a string");
  return it->get<std::string>();
}

std::string str_or(const json& p, const char* key, std::string fallback) {
  auto it = p.find(key);
  return it != p.end() && it->is_string() ? it->get<std::string>() : fallback;
}

template <typename Id>
Result<Id> hex_id(const std::string& text, const char* what) {
  auto id = Id::from_hex(text);
  if (!id)
    return invalid(std::string(what) + " must be " + std::to_string(Id::kSize * 2) + " hex digits, not '" + text + "'");
  return *id;
}

// One write of put(): the compact key forms "field", "field@LOCALE", "+field",
// "-field" (as the urbis CLI spells them), or the structured op objects.
struct FieldOp {
  using Kind = FieldRef::Kind;
  Kind kind = Kind::Set;
  std::string field, locale, source_locale;
  json value;
};

Result<FieldOp> parse_key(const std::string& key, json value) {
  std::optional<FieldRef> ref = parse_field_ref(key);
  if (!ref)
    return invalid("'" + key + "' is not field, field@LOCALE, +field or -field (LOCALE: letters, digits, - and _)");
  FieldOp op{ref->kind, std::move(ref->field), std::move(ref->locale), {}, std::move(value)};
  if (op.kind == FieldOp::Kind::Text && !op.value.is_string())
    return invalid("'" + key + "': a translatable field takes a string");
  return op;
}

// One compact `key: value` of put(); "+field"/"-field" with an array value
// add/remove each element.
Status parse_compact(const std::string& key, const json& value, std::vector<FieldOp>& ops) {
  const bool set_op = !key.empty() && (key[0] == '+' || key[0] == '-');
  if (set_op && value.is_array()) {
    for (const json& v : value) {
      URBIS_ASSIGN_OR_RETURN(FieldOp op, parse_key(key, v));
      ops.push_back(std::move(op));
    }
    return Status::ok();
  }
  URBIS_ASSIGN_OR_RETURN(FieldOp op, parse_key(key, value));
  ops.push_back(std::move(op));
  return Status::ok();
}

// put()'s `fields`: an object of compact keys (applied in key order), or an
// array (applied in order) whose elements are [key, value] pairs (what the
// JavaScript API sends for an object, keeping its insertion order) or
// structured ops {op: "set"|"text"|"add"|"remove", field, value, locale?, source?}.
Result<std::vector<FieldOp>> parse_fields(const json& fields) {
  std::vector<FieldOp> ops;
  if (fields.is_object()) {
    for (const auto& [key, value] : fields.items()) URBIS_RETURN_IF_ERROR(parse_compact(key, value, ops));
    return ops;
  }
  if (!fields.is_array()) return invalid("fields must be an object or an array of ops");
  for (const json& o : fields) {
    if (o.is_array() && o.size() == 2 && o[0].is_string()) {
      URBIS_RETURN_IF_ERROR(parse_compact(o[0].get<std::string>(), o[1], ops));
      continue;
    }
    if (!o.is_object()) return invalid("each op must be an object or a [key, value] pair");
    URBIS_ASSIGN_OR_RETURN(std::string kind, str(o, "op"));
    URBIS_ASSIGN_OR_RETURN(std::string field, str(o, "field"));
    if (!valid_field_name(field)) return invalid("bad field name '" + field + "'");
    if (!o.contains("value")) return invalid("op on '" + field + "' has no value");
    FieldOp op;
    op.field = field;
    op.value = o["value"];
    if (kind == "set") {
      op.kind = FieldOp::Kind::Set;
    } else if (kind == "text") {
      op.kind = FieldOp::Kind::Text;
      URBIS_ASSIGN_OR_RETURN(op.locale, str(o, "locale"));
      op.source_locale = str_or(o, "source", "");
      if (!valid_locale(op.locale) || (!op.source_locale.empty() && !valid_locale(op.source_locale)))
        return invalid("bad locale in op on '" + field + "'");
      if (!op.value.is_string()) return invalid("a text op takes a string value");
    } else if (kind == "add") {
      op.kind = FieldOp::Kind::Add;
    } else if (kind == "remove") {
      op.kind = FieldOp::Kind::Remove;
    } else {
      return invalid("op must be set, text, add or remove, not '" + kind + "'");
    }
    ops.push_back(std::move(op));
  }
  return ops;
}

void record(Transaction& tx, const EntityId& id, const FieldOp& op) {
  switch (op.kind) {
    case FieldOp::Kind::Set: tx.set(id, op.field, op.value); break;
    case FieldOp::Kind::Text:
      tx.set_text(id, op.field, op.locale, op.value.get<std::string>(), op.source_locale);
      break;
    case FieldOp::Kind::Add: tx.add(id, op.field, op.value); break;
    case FieldOp::Kind::Remove: tx.remove(id, op.field, op.value); break;
  }
}

// The entity `id` of `space`, which must exist with type `type`.
Result<Entity> get_typed(Replica& r, const SpaceId& space, const std::string& type, const EntityId& id) {
  URBIS_ASSIGN_OR_RETURN(Entity e, r.get(space, id));
  if (e.type != type) return Status(Code::NotFound, "entity " + id.hex() + " is a " + e.type + ", not a " + type);
  return e;
}

// A role a member can be given: admin, editor, commenter or viewer.
Result<Role> member_role_of(const json& p) {
  auto role = role_from_name(str_or(p, "role", "editor"));
  if (!role || *role == Role::None) return invalid("role must be admin, editor, commenter or viewer");
  return *role;
}

// setRole's optional `scope`: the ids (hex) of the `city` entities the role
// is limited to; absent, null or empty: the whole space.
Result<std::vector<EntityId>> scope_of(const json& p) {
  std::vector<EntityId> scope;
  auto it = p.find("scope");
  if (it == p.end() || it->is_null()) return scope;
  if (!it->is_array()) return invalid("scope must be an array of city ids");
  for (const json& v : *it) {
    if (!v.is_string()) return invalid("scope must be an array of city ids");
    URBIS_ASSIGN_OR_RETURN(EntityId id, hex_id<EntityId>(v.get<std::string>(), "a scope's city id"));
    if (std::find(scope.begin(), scope.end(), id) == scope.end()) scope.push_back(id);
  }
  return scope;
}

json space_json(const SpaceInfo& s) {
  return {{"space", s.id.hex()}, {"name", s.name}, {"epoch", s.epoch}, {"role", role_name(s.my_role)}};
}

Result<PwhashCost> cost_of(const std::string& name) {
  if (name == "interactive") return PwhashCost::Interactive;
  if (name == "moderate") return PwhashCost::Moderate;
  if (name == "minimal") return PwhashCost::Minimal;
  return invalid("cost must be interactive, moderate or minimal");
}

}  // namespace

Result<nlohmann::json> Client::call(const std::string& method, const json& p) {
  if (!p.is_object()) return invalid("params must be an object");
  // The RPC methods of the C ABI (wasm/js/engine.js calls them by name).
  using Method = Result<nlohmann::json> (Client::*)(const json&);
  static const std::unordered_map<std::string_view, Method> kMethods = {
      {"identityCreate", &Client::identity_create},
      {"identityUnlock", &Client::identity_unlock},
      {"replicaOpen", &Client::replica_open},
      {"dirtyChunkBytes", &Client::rpc_dirty_chunk_bytes},
      {"dirtyTake", &Client::rpc_dirty_take},
      {"dirtyReset", &Client::rpc_dirty_reset},
      {"replicaClose", &Client::rpc_replica_close},
      {"device", &Client::rpc_device},
      {"put", &Client::put},
      {"get", &Client::get},
      {"remove", &Client::remove},
      {"resolve", &Client::resolve},
      {"find", &Client::find},
      {"status", &Client::rpc_status},
      {"takeEvents", &Client::rpc_take_events},
      {"setAcked", &Client::rpc_set_acked},
      {"spaces", &Client::rpc_spaces},
      {"createSpace", &Client::rpc_create_space},
      {"addMember", &Client::rpc_add_member},
      {"removeMember", &Client::rpc_remove_member},
      {"setRole", &Client::rpc_set_role},
      {"revokeInvite", &Client::rpc_revoke_invite},
      {"createInvite", &Client::rpc_create_invite},
      {"members", &Client::rpc_members},
      {"heal", &Client::rpc_heal},
      {"seen", &Client::rpc_seen},
      {"setSeen", &Client::rpc_set_seen},
      {"stateHash", &Client::rpc_state_hash},
      {"activity", &Client::rpc_activity},
      {"sessionOpen", &Client::rpc_session_open},
      {"checkpoint", &Client::rpc_checkpoint},
      {"joinOpen", &Client::rpc_join_open},
      {"joinStatus", &Client::rpc_join_status},
      {"joinFinish", &Client::rpc_join_finish},
      {"joinCancel", &Client::rpc_join_cancel},
      {"sessionClose", &Client::rpc_session_close},
  };
  const auto it = kMethods.find(method);
  if (it == kMethods.end()) return Status(Code::InvalidArgument, "unknown method '" + method + "'");
  return (this->*it->second)(p);
}

// ---- RPC methods (call) without a function of their own below ----

Result<nlohmann::json> Client::rpc_dirty_chunk_bytes(const json& /*p*/) { return json(dirty::kChunkBytes); }

Result<nlohmann::json> Client::rpc_dirty_take(const json& p) {
  // The chunks of the database file written since the last snapshot
  // (dirty_vfs.h), after the checkpoint that precedes a snapshot.
  URBIS_ASSIGN_OR_RETURN(std::string path, str(p, "path"));
  dirty::Taken t = dirty::take(path);
  return json{{"chunkBytes", dirty::kChunkBytes}, {"all", t.all}, {"chunks", t.chunks}};
}

Result<nlohmann::json> Client::rpc_dirty_reset(const json& p) {
  // The host holds the file as it is now ({all: false}), or nothing
  // known ({all: true}): a failed snapshot, an old whole-file one.
  URBIS_ASSIGN_OR_RETURN(std::string path, str(p, "path"));
  dirty::reset(path, p.value("all", true));
  return json::object();
}

Result<nlohmann::json> Client::rpc_replica_close(const json& /*p*/) {
  join_abandon();
  close_session();
  replica_.reset();
  logged_.clear();
  return json::object();
}

Result<nlohmann::json> Client::rpc_device(const json& /*p*/) {
  return identity_ ? json(identity_->device().hex()) : json(nullptr);
}

Result<nlohmann::json> Client::rpc_status(const json& /*p*/) { return status(); }

Result<nlohmann::json> Client::rpc_take_events(const json& /*p*/) {
  json changed = json::object();
  for (const auto& [space, n] : changed_) changed[space.hex()] = n;
  changed_.clear();
  json dropped = json::array();
  for (const SpaceId& space : dropped_) dropped.push_back(space.hex());
  dropped_.clear();
  return json{{"changed", changed}, {"dropped", dropped}};
}

Result<nlohmann::json> Client::rpc_set_acked(const json& p) {
  // The node's heads for this device as last persisted by the host.
  auto it = p.find("acked");
  if (it == p.end() || !it->is_object()) return invalid("'acked' must be an object");
  for (const auto& [hex, seq] : it->items()) {
    URBIS_ASSIGN_OR_RETURN(SpaceId space, hex_id<SpaceId>(hex, "space"));
    if (!seq.is_number_unsigned()) return invalid("acked seqs must be numbers");
    acked_[space] = std::max(acked_[space], seq.get<uint64_t>());
  }
  return json::object();
}

Result<nlohmann::json> Client::rpc_spaces(const json& /*p*/) {
  URBIS_ASSIGN_OR_RETURN(Replica * r, need_replica());

  URBIS_ASSIGN_OR_RETURN(auto list, r->spaces());
  json out = json::array();
  for (const SpaceInfo& s : list)
    if (!joining(s.id)) out.push_back(space_json(s));
  return out;
}

Result<nlohmann::json> Client::rpc_create_space(const json& p) {
  URBIS_ASSIGN_OR_RETURN(Replica * r, need_replica());

  URBIS_ASSIGN_OR_RETURN(std::string name, str(p, "name"));
  URBIS_ASSIGN_OR_RETURN(SpaceId space, r->create_space(name));
  URBIS_RETURN_IF_ERROR(after_local_write(space));
  return json{{"space", space.hex()}};
}

Result<nlohmann::json> Client::rpc_set_member(const json& p, bool add) {
  URBIS_ASSIGN_OR_RETURN(Replica * r, need_replica());

  URBIS_ASSIGN_OR_RETURN(SpaceId space, space_of(p));
  URBIS_ASSIGN_OR_RETURN(std::string dev_text, str(p, "device"));
  URBIS_ASSIGN_OR_RETURN(DeviceKey device, hex_id<DeviceKey>(dev_text, "device"));
  Role role = Role::None;
  if (add) {
    URBIS_ASSIGN_OR_RETURN(role, member_role_of(p));
  }
  URBIS_RETURN_IF_ERROR(r->set_role(space, device, role));
  URBIS_RETURN_IF_ERROR(after_local_write(space));
  return json{{"space", space.hex()}, {"device", device.hex()}, {"role", role_name(role)}};
}

Result<nlohmann::json> Client::rpc_add_member(const json& p) { return rpc_set_member(p, true); }

Result<nlohmann::json> Client::rpc_remove_member(const json& p) { return rpc_set_member(p, false); }

Result<nlohmann::json> Client::rpc_set_role(const json& p) {
  URBIS_ASSIGN_OR_RETURN(Replica * r, need_replica());

  // A member's role and city scope (docs/membership.md), or a new member.
  URBIS_ASSIGN_OR_RETURN(SpaceId space, space_of(p));
  URBIS_ASSIGN_OR_RETURN(std::string dev_text, str(p, "device"));
  URBIS_ASSIGN_OR_RETURN(DeviceKey device, hex_id<DeviceKey>(dev_text, "device"));
  URBIS_ASSIGN_OR_RETURN(Role role, member_role_of(p));
  URBIS_ASSIGN_OR_RETURN(std::vector<EntityId> scope, scope_of(p));
  std::vector<std::string> scope_hex;  // as members() lists it: sorted
  for (const EntityId& c : scope) scope_hex.push_back(c.hex());
  std::sort(scope_hex.begin(), scope_hex.end());
  URBIS_RETURN_IF_ERROR(r->set_role(space, device, role, std::move(scope)));
  URBIS_RETURN_IF_ERROR(after_local_write(space));
  return json{{"space", space.hex()}, {"device", device.hex()}, {"role", role_name(role)}, {"scope", scope_hex}};
}

Result<nlohmann::json> Client::rpc_revoke_invite(const json& p) {
  URBIS_ASSIGN_OR_RETURN(Replica * r, need_replica());

  URBIS_ASSIGN_OR_RETURN(SpaceId space, space_of(p));
  URBIS_ASSIGN_OR_RETURN(std::string key_text, str(p, "key"));
  URBIS_ASSIGN_OR_RETURN(DeviceKey key, hex_id<DeviceKey>(key_text, "invite key"));
  URBIS_RETURN_IF_ERROR(r->revoke_invite(space, key));
  URBIS_RETURN_IF_ERROR(after_local_write(space));
  return json{{"space", space.hex()}, {"key", key.hex()}};
}

Result<nlohmann::json> Client::rpc_create_invite(const json& p) {
  URBIS_ASSIGN_OR_RETURN(Replica * r, need_replica());

  URBIS_ASSIGN_OR_RETURN(SpaceId space, space_of(p));
  auto role = role_from_name(str_or(p, "role", "editor"));
  if (!role || *role == Role::None) return invalid("role must be admin, editor, commenter or viewer");
  auto ttl = p.find("ttlSeconds");
  uint64_t seconds = 7 * 24 * 3600;
  if (ttl != p.end()) {
    if (!ttl->is_number_unsigned()) return invalid("ttlSeconds must be a number of seconds");
    seconds = ttl->get<uint64_t>();
  }
  std::vector<DeviceKey> witnesses;
  if (auto w = p.find("witness"); w != p.end() && !w->is_null()) {
    if (!w->is_string()) return invalid("witness must be a node key (64 hex digits)");
    URBIS_ASSIGN_OR_RETURN(DeviceKey key, hex_id<DeviceKey>(w->get<std::string>(), "witness"));
    witnesses.push_back(key);
  }
  URBIS_ASSIGN_OR_RETURN(Invite invite, r->create_invite(space, *role, seconds, std::move(witnesses)));
  URBIS_RETURN_IF_ERROR(after_commit(space, invite.change));
  return json{{"code", invite.code}, {"expires", invite.expires_ms}, {"key", invite.key.hex()}};
}

Result<nlohmann::json> Client::rpc_members(const json& p) {
  URBIS_ASSIGN_OR_RETURN(Replica * r, need_replica());

  URBIS_ASSIGN_OR_RETURN(SpaceId space, space_of(p));
  URBIS_ASSIGN_OR_RETURN(auto list, r->members(space));
  json out = json::array();
  const auto seen = seen_.find(space);
  for (const Member& m : list) {
    json entry = {{"device", m.device.hex()}, {"role", role_name(m.role)}, {"scope", json::array()}};
    for (const EntityId& c : m.scope) entry["scope"].push_back(c.hex());
    if (m.invite_expires_ms) entry["inviteExpires"] = m.invite_expires_ms;  // a pending invite's key
    if (seen != seen_.end()) {
      if (auto at = seen->second.find(m.device); at != seen->second.end()) entry["lastSeen"] = at->second;
    }
    out.push_back(std::move(entry));
  }
  return out;
}

Result<nlohmann::json> Client::rpc_heal(const json& /*p*/) {
  URBIS_ASSIGN_OR_RETURN(Replica * r, need_replica());

  // After what a sync brought (the host calls this after each frame): an
  // admin device settles the keys of the spaces it has caught up with
  // (Replica::heal); what it commits goes out like a local edit.
  json healed = json::array();
  std::set<SpaceId> due;
  due.swap(heal_due_);
  for (const SpaceId& space : due) {
    if (session_ && session_->judging(space)) continue;  // no member here (yet): nothing to settle
    // Only an admin settles keys: one indexed lookup spares the others
    // heal's write transaction after every push.
    auto role = r->member_role(space, identity_->device());
    if (!role.is_ok() || *role != Role::Admin) continue;
    auto done = r->heal(space);
    // Not this device's to settle (no admin, a dropped space): nothing to
    // do. Only a failing store stops the host.
    if (!done.is_ok()) {
      if (done.code() == Code::Storage) return done.status();
      continue;
    }
    if (!*done) continue;
    URBIS_RETURN_IF_ERROR(after_local_write(space));
    healed.push_back(space.hex());
  }
  return json{{"healed", std::move(healed)}};
}

Result<nlohmann::json> Client::rpc_seen(const json& /*p*/) {
  URBIS_RETURN_IF_ERROR(need_replica().status());

  // Last seen per space and author (ms), for the host to keep across
  // snapshots (a snapshot replaces the log entries that told it).
  json out = json::object();
  for (const auto& [space, authors] : seen_) {
    json& per = out[space.hex()] = json::object();
    for (const auto& [author, ms] : authors) per[author.hex()] = ms;
  }
  return out;
}

Result<nlohmann::json> Client::rpc_set_seen(const json& p) {
  URBIS_RETURN_IF_ERROR(need_replica().status());

  auto it = p.find("seen");
  if (it == p.end() || !it->is_object()) return invalid("'seen' must be an object");
  for (const auto& [space_hex, authors] : it->items()) {
    URBIS_ASSIGN_OR_RETURN(SpaceId space, hex_id<SpaceId>(space_hex, "space"));
    if (!authors.is_object()) return invalid("'seen' maps spaces to {device: ms}");
    for (const auto& [author_hex, ms] : authors.items()) {
      URBIS_ASSIGN_OR_RETURN(DeviceKey author, hex_id<DeviceKey>(author_hex, "device"));
      if (!ms.is_number_unsigned()) return invalid("last-seen times must be numbers");
      uint64_t& at = seen_[space][author];
      at = std::max(at, ms.get<uint64_t>());
    }
  }
  return json::object();
}

// What other devices changed in a space since a cursor, for the app's
// activity view ("since you last synced"). `since`: a version vector
// {device hex: seq}, an earlier answer's `cursor` (absent or null: nothing
// is new; only the cursor is returned). `limit`: entities listed (1..1000,
// default 200); `lang`: titles' language; `max_bytes`: envelope bytes read
// to count the new changes (default 4 MiB, at least 1).
//
// Cheap in a long history, and bounded however much is new: the changes the
// cursor lacks come from the log's per-author (author, seq) index
// (Replica::changes_since) in batches of at most `max_bytes` in all, and
// only their headers are read; a device back after a long absence (a
// million new changes) counts the first `max_bytes` of them and says the
// count is a lower bound (`more`). The oldest of those counted (by HLC)
// bounds a walk of the entities by last update, newest first (find's
// Updated order, an index): an entity whose newest value is older than every
// new change holds none of them; when the count was cut, the oldest is
// unknown and the walk goes to its cap. The walk reads at most kMaxWalk
// entities (`capped` when it stopped there with recent ones left): a member
// whose change carries a very old clock would otherwise make every call walk
// the whole space. A value counts when another device wrote it in a change
// past the cursor (its op's seq). Values since overwritten, set elements and
// deletions carry no author in the read model, so they are not listed (the
// change counts still include their changes).
//
// Answer: {cursor, changes (new changes of other devices; at least that
// many when `more`), more, authors {device hex: {changes, at}}, entities
// [{id, type, deleted, title, summary, fields ["status", "title@en"],
// authors [device hex], at (ms)}] newest first, capped, complete (false:
// more entities than `limit`, the walk's cap reached, or the count cut)}.
Result<nlohmann::json> Client::rpc_activity(const json& p) {
  URBIS_ASSIGN_OR_RETURN(Replica * r, need_replica());
  URBIS_ASSIGN_OR_RETURN(SpaceId space, space_of(p));
  size_t limit = 200;
  if (auto l = p.find("limit"); l != p.end() && !l->is_null()) {
    if (!l->is_number_unsigned() || l->get<uint64_t>() == 0 || l->get<uint64_t>() > 1000)
      return invalid("limit must be 1..1000");
    limit = l->get<size_t>();
  }
  constexpr uint64_t kMaxBytesCap = uint64_t{64} << 20;  // what one call may hold in the wasm heap
  size_t max_bytes = size_t{4} << 20;
  if (auto m = p.find("max_bytes"); m != p.end() && !m->is_null()) {
    if (!m->is_number_unsigned() || m->get<uint64_t>() == 0 || m->get<uint64_t>() > kMaxBytesCap)
      return invalid("max_bytes must be 1..64 MiB");
    max_bytes = static_cast<size_t>(m->get<uint64_t>());
  }
  const std::string lang = str_or(p, "lang", "en");
  URBIS_ASSIGN_OR_RETURN(VersionVector now, r->version_vector(space));
  json cursor = json::object();
  for (const auto& [device, seq] : now) cursor[device.hex()] = seq;
  json out = {{"cursor", cursor},          {"changes", 0},    {"more", false},   {"authors", json::object()},
              {"entities", json::array()}, {"capped", false}, {"complete", true}};
  auto it = p.find("since");
  if (it == p.end() || it->is_null()) return out;
  if (!it->is_object()) return invalid("'since' must be an object {device: seq} (an earlier cursor)");
  VersionVector since;
  for (const auto& [hex, seq] : it->items()) {
    URBIS_ASSIGN_OR_RETURN(DeviceKey device, hex_id<DeviceKey>(hex, "a cursor's device"));
    if (!seq.is_number_unsigned()) return invalid("a cursor's seqs must be numbers");
    since[device] = seq.get<uint64_t>();
  }
  const std::optional<DeviceKey> me = identity_ ? std::optional<DeviceKey>(identity_->device()) : std::nullopt;

  // The new changes of other devices: who, how many, when; the oldest HLC.
  // Batches (a batch may come back short of its budget) until `max_bytes`
  // are read or nothing is left; then whether anything is left unread.
  uint64_t oldest = UINT64_MAX;
  uint64_t count = 0;
  bool more = false;
  VersionVector read = since;
  for (size_t bytes = 0;;) {
    if (bytes >= max_bytes) {
      URBIS_ASSIGN_OR_RETURN(std::vector<Bytes> left, r->changes_since(space, read, 1));
      more = !left.empty();
      break;
    }
    URBIS_ASSIGN_OR_RETURN(std::vector<Bytes> fresh, r->changes_since(space, read, max_bytes - bytes));
    if (fresh.empty()) break;
    bool advanced = false;
    for (const Bytes& b : fresh) {
      bytes += b.size();
      auto h = peek_envelope(b);
      if (!h) continue;  // a header past 64 KiB, kept by a build before replicas refused them
      uint64_t& seq = read[h->author];
      advanced = advanced || h->seq > seq;
      seq = std::max(seq, h->seq);
      if (h->author == me || h->membership) continue;
      ++count;
      oldest = std::min<uint64_t>(oldest, h->hlc);
      json& a = out["authors"][h->author.hex()];
      if (a.is_null()) a = {{"changes", 0}, {"at", 0}};
      a["changes"] = a["changes"].get<uint64_t>() + 1;
      a["at"] = std::max(a["at"].get<uint64_t>(), h->ms());
    }
    if (!advanced) {  // only such changes: reading on would read them again
      more = true;
      break;
    }
  }
  out["changes"] = count;
  out["more"] = more;
  if (more) {
    out["complete"] = false;
    oldest = 0;  // the oldest new change may be among those not read
  }
  if (count == 0 && !more) return out;

  // The entities updated since the oldest new change, newest first, at most
  // kMaxWalk of them. Pages grow (100, 300, 600, 1000: find's limit), so a
  // few recent entities cost one small page and the cap at most four finds.
  constexpr size_t kMaxWalk = 2000;
  constexpr size_t kPages[] = {100, 300, 600, 1000};
  json& entities = out["entities"];
  Query q;
  q.sort = Query::Sort::Updated;
  q.include_deleted = true;
  q.lang = lang;
  q.offset = 0;
  for (size_t page_no = 0;; ++page_no) {
    if (page_no == std::size(kPages) || q.offset >= kMaxWalk) {
      out["capped"] = true;
      out["complete"] = false;
      break;
    }
    q.limit = std::min(kPages[page_no], kMaxWalk - q.offset);
    URBIS_ASSIGN_OR_RETURN(FindResult page, r->find(space, q));
    q.offset += page.hits.size();
    bool any_recent = false;
    for (const Hit& hit : page.hits) {
      URBIS_ASSIGN_OR_RETURN(Entity e, r->get(space, hit.id));
      std::set<std::string> fields;
      std::set<std::string> authors;
      uint64_t at = 0;
      auto consider = [&](const std::string& name, const Version& v) {
        if (v.hlc >= oldest) any_recent = true;
        if (v.op.author == me) return;
        auto known = since.find(v.op.author);
        if (known != since.end() && v.op.seq <= known->second) return;
        fields.insert(name);
        authors.insert(v.op.author.hex());
        at = std::max(at, v.hlc >> 16);
      };
      auto each = [&](const std::string& name, const Register& reg) {
        consider(name, reg.winner);
        for (const Version& c : reg.conflicts) consider(name, c);
      };
      for (const auto& [name, reg] : e.fields) each(name, reg);
      for (const auto& [name, text] : e.texts)
        for (const auto& [locale, reg] : text.locales) each(name + "@" + locale, reg);
      if (fields.empty()) continue;
      if (entities.size() == limit) {
        out["complete"] = false;
        return out;
      }
      entities.push_back({{"id", hit.id.hex()},
                          {"type", hit.type},
                          {"deleted", e.deleted},
                          {"title", hit.title},
                          {"summary", hit.summary},
                          {"fields", fields},
                          {"authors", authors},
                          {"at", at}});
    }
    // A page with nothing as new as the oldest new change: the rest is older.
    if (!any_recent || page.hits.size() < q.limit) break;
  }
  return out;
}

Result<nlohmann::json> Client::rpc_state_hash(const json& p) {
  URBIS_ASSIGN_OR_RETURN(Replica * r, need_replica());

  URBIS_ASSIGN_OR_RETURN(SpaceId space, space_of(p));
  URBIS_ASSIGN_OR_RETURN(Hash h, r->state_hash(space));
  return json(h.hex());
}

Result<nlohmann::json> Client::rpc_session_open(const json& /*p*/) {
  URBIS_ASSIGN_OR_RETURN(Replica * r, need_replica());

  // A new session each time: its Want resumes from the replica's vectors.
  sync::SessionOptions options;
  options.discover = true;
  // A join's space, stored here before this device is a member: the join
  // owns it until joinFinish (then a local change offers it).
  options.withheld = [this](const SpaceId& space) { return joining(space); };
  close_session();
  session_ = std::make_unique<sync::Session>(*r, env_, sync::Signer::of(*identity_), sync::SessionRole::Client,
                                             std::vector<SpaceId>{}, options);
  drops_seen_ = 0;
  live_.clear();
  for (Bytes& f : session_->start()) frames_.push_back(std::move(f));
  note_drops();
  return json::object();
}

Result<nlohmann::json> Client::rpc_checkpoint(const json& p) {
  // Before a snapshot (the engine's idle time): what puts and catch-ups
  // left stale for the next read is refreshed, so the snapshot holds it and
  // a restart has nothing to redo; then the WAL is copied into the database
  // file and truncated (the core lets the WAL grow to ~16 MB between
  // checkpoints), so the snapshot is the database file alone; {vacuum:
  // true} after a space was dropped, so its free pages (which keep deleted
  // rows' bytes) do not reach the snapshot.
  // {refresh: false}: a snapshot a burst of changes (a catch-up) made,
  // whose refresh is left to the next read or idle snapshot, once. A
  // refresh that fails only leaves that work to the next read.
  URBIS_ASSIGN_OR_RETURN(Replica * r, need_replica());
  if (p.value("refresh", true)) (void)r->refresh();
  URBIS_ASSIGN_OR_RETURN(Replica::Checkpoint done, r->checkpoint(p.value("vacuum", false)));
  return json{{"walFrames", done.wal_frames}, {"checkpointed", done.checkpointed}};
}

Result<nlohmann::json> Client::rpc_join_open(const json& p) {
  URBIS_RETURN_IF_ERROR(need_replica().status());
  return join_open(p);
}

Result<nlohmann::json> Client::rpc_join_status(const json& /*p*/) {
  URBIS_RETURN_IF_ERROR(need_replica().status());
  return join_status();
}

Result<nlohmann::json> Client::rpc_join_finish(const json& /*p*/) {
  URBIS_RETURN_IF_ERROR(need_replica().status());
  return join_finish();
}

Result<nlohmann::json> Client::rpc_join_cancel(const json& /*p*/) {
  URBIS_RETURN_IF_ERROR(need_replica().status());

  join_abandon();
  return json::object();
}

Result<nlohmann::json> Client::rpc_session_close(const json& /*p*/) {
  URBIS_RETURN_IF_ERROR(need_replica().status());

  close_session();
  return json::object();
}

Result<nlohmann::json> Client::identity_create(const json& p) {
  if (identity_) return invalid("an identity is already unlocked");
  URBIS_ASSIGN_OR_RETURN(std::string passphrase, str(p, "passphrase"));
  if (passphrase.empty()) return invalid("the passphrase is empty");
  URBIS_ASSIGN_OR_RETURN(PwhashCost cost, cost_of(str_or(p, "cost", "interactive")));
  Identity id = Identity::generate(env_);
  URBIS_ASSIGN_OR_RETURN(Bytes wrapped, id.wrap(passphrase, env_, cost));
  json out = {{"device", id.device().hex()}, {"wrapped", to_hex(wrapped)}};
  identity_ = std::move(id);
  return out;
}

Result<nlohmann::json> Client::identity_unlock(const json& p) {
  URBIS_ASSIGN_OR_RETURN(std::string passphrase, str(p, "passphrase"));
  URBIS_ASSIGN_OR_RETURN(std::string wrapped_hex, str(p, "wrapped"));
  auto wrapped = from_hex(wrapped_hex);
  if (!wrapped) return invalid("'wrapped' must be hex");
  URBIS_ASSIGN_OR_RETURN(Identity id, Identity::unwrap(*wrapped, passphrase));
  json out = {{"device", id.device().hex()}};
  // Unlocking again (the passphrase checked) keeps the identity in use: the
  // open session borrows it.
  if (identity_) {
    if (identity_->device() != id.device()) return invalid("another identity is already unlocked");
    return out;
  }
  identity_ = std::move(id);
  return out;
}

Result<nlohmann::json> Client::replica_open(const json& p) {
  if (!identity_) return Status(Code::NoKey, "no identity is unlocked");
  if (replica_) return invalid("the replica is already open");
  URBIS_ASSIGN_OR_RETURN(std::string path, str(p, "path"));
  if (!dirty::install()) return Status(Code::Storage, "SQLite refused the file layer that tracks written chunks");
  ReplicaOptions options;
  // MEMFS has no fsync; durability comes from the host's log (IndexedDB).
  options.synchronous_full = false;
  // The replica owns an Identity and so does the session's signer; Identity
  // is move-only (no copies of secrets by accident).
  URBIS_ASSIGN_OR_RETURN(replica_, Replica::open(path, identity_->duplicate(), env_, options));
  logged_.clear();
  // Whatever the store holds at open came from the host's snapshot: logged.
  URBIS_ASSIGN_OR_RETURN(auto list, replica_->spaces());
  for (const SpaceInfo& s : list) {
    URBIS_ASSIGN_OR_RETURN(logged_[s.id], replica_->version_vector(s.id));
  }
  return json{{"spaces", list.size()}};
}

Result<Client::Addressed> Client::addressed(const json& p) {
  URBIS_ASSIGN_OR_RETURN(Replica * r, need_replica());
  URBIS_ASSIGN_OR_RETURN(SpaceId space, space_of(p));
  URBIS_ASSIGN_OR_RETURN(std::string type, str(p, "type"));
  URBIS_ASSIGN_OR_RETURN(std::string id_text, str(p, "id"));
  URBIS_ASSIGN_OR_RETURN(EntityId id, hex_id<EntityId>(id_text, "id"));
  URBIS_ASSIGN_OR_RETURN(Entity e, get_typed(*r, space, type, id));
  return Addressed{r, space, id, std::move(e)};
}

Result<nlohmann::json> Client::put(const json& p) {
  URBIS_ASSIGN_OR_RETURN(std::vector<FieldOp> ops, parse_fields(p.value("fields", json::object())));
  URBIS_ASSIGN_OR_RETURN(std::string id_text, str(p, "id"));
  Replica* r = nullptr;
  SpaceId space;
  EntityId id;
  std::string type;
  const bool create = id_text == "new";
  if (create) {
    URBIS_ASSIGN_OR_RETURN(r, need_replica());
    URBIS_ASSIGN_OR_RETURN(space, space_of(p));
    URBIS_ASSIGN_OR_RETURN(type, str(p, "type"));
    if (!valid_field_name(type)) return invalid("bad entity type '" + type + "'");
  } else {
    if (ops.empty()) return invalid("nothing to put: no fields");
    URBIS_ASSIGN_OR_RETURN(Addressed a, addressed(p));
    r = a.replica;
    space = a.space;
    id = a.id;
    type = a.entity.type;
  }
  Transaction tx = r->begin(space);
  if (create) id = tx.create(type);
  for (const FieldOp& op : ops) record(tx, id, op);
  URBIS_ASSIGN_OR_RETURN(CommitInfo info, r->commit(tx));
  URBIS_RETURN_IF_ERROR(after_commit(space, info));
  return json{{"id", id.hex()}, {"type", type}, {"seq", info.seq}};
}

Result<nlohmann::json> Client::get(const json& p) {
  URBIS_ASSIGN_OR_RETURN(Addressed a, addressed(p));
  return a.entity.to_json(str_or(p, "lang", "en"));
}

Result<nlohmann::json> Client::remove(const json& p) {
  URBIS_ASSIGN_OR_RETURN(Addressed a, addressed(p));
  Transaction tx = a.replica->begin(a.space);
  tx.remove_entity(a.id);
  URBIS_ASSIGN_OR_RETURN(CommitInfo info, a.replica->commit(tx));
  URBIS_RETURN_IF_ERROR(after_commit(a.space, info));
  return json{{"id", a.id.hex()}, {"deleted", true}, {"seq", info.seq}};
}

// A new value that overwrites every live value of the field (the winner and
// its conflicts): the conflict is gone on every replica that applies it.
Result<nlohmann::json> Client::resolve(const json& p) {
  URBIS_ASSIGN_OR_RETURN(std::string field, str(p, "field"));
  if (field.empty() || field[0] == '+' || field[0] == '-') return invalid("resolve takes field or field@LOCALE");
  if (!p.contains("value")) return invalid("resolve needs a value");
  json q = p;
  q["fields"] = json{{field, p["value"]}};
  return put(q);
}

Result<nlohmann::json> Client::find(const json& p) {
  URBIS_ASSIGN_OR_RETURN(Replica * r, need_replica());
  URBIS_ASSIGN_OR_RETURN(SpaceId space, space_of(p));
  const json q = p.value("query", json::object());
  if (!q.is_object()) return invalid("query must be an object");
  Query query;
  query.type = str_or(q, "type", "");
  query.text = str_or(q, "text", "");
  query.lang = str_or(q, "lang", "en");
  const std::string sort = str_or(q, "sort", "relevance");
  if (sort == "relevance")
    query.sort = Query::Sort::Relevance;
  else if (sort == "updated")
    query.sort = Query::Sort::Updated;
  else if (sort == "title")
    query.sort = Query::Sort::Title;
  else
    return invalid("sort must be relevance, updated or title");
  auto add_where = [&](const std::string& field, const json& v) {
    query.where.emplace_back(field, v.is_string() ? v.get<std::string>() : v.dump());
  };
  if (auto w = q.find("where"); w != q.end()) {
    if (w->is_object()) {
      for (const auto& [field, v] : w->items()) {
        if (v.is_array())
          for (const json& e : v) add_where(field, e);  // every element must match
        else
          add_where(field, v);
      }
    } else if (!w->is_null()) {
      return invalid("where must be an object {field: value}");
    }
  }
  if (auto l = q.find("limit"); l != q.end()) {
    if (!l->is_number_unsigned() || l->get<uint64_t>() > 1000) return invalid("limit must be 0..1000 (0: count only)");
    query.limit = l->get<size_t>();
  }
  if (auto o = q.find("offset"); o != q.end()) {
    if (!o->is_number_unsigned()) return invalid("offset must be a number >= 0");
    query.offset = o->get<size_t>();
  }
  query.include_deleted = q.value("includeDeleted", false);
  URBIS_ASSIGN_OR_RETURN(FindResult found, r->find(space, query));
  json hits = json::array();
  for (const Hit& h : found.hits)
    hits.push_back({{"id", h.id.hex()}, {"type", h.type}, {"title", h.title}, {"summary", h.summary}});
  return json{{"total", found.total}, {"hits", std::move(hits)}};
}

Result<nlohmann::json> Client::status() {
  json out = {{"session", session_ ? json(std::string(sync::state_name(session_->state()))) : json(nullptr)},
              {"pending", 0},
              {"acked", json::object()}};
  for (const auto& [space, seq] : acked_) out["acked"][space.hex()] = seq;
  if (replica_) {
    URBIS_ASSIGN_OR_RETURN(uint64_t n, pending());
    out["pending"] = n;
  }
  // Spaces held here that the node refused this device (lost access).
  out["refused"] = json::array();
  for (const SpaceId& space : refused_) out["refused"].push_back(space.hex());
  // Spaces offered unasked and not judged yet: nothing of them is in the
  // host's log, and the host takes no snapshot of the store meanwhile.
  // A join's space in the replica, not yet finished, counts too.
  out["judging"] = (session_ ? session_->judging_spaces().size() : 0) + (join_ && joining(join_->secret.space) ? 1 : 0);
  if (session_) {
    const sync::SessionCounters& c = session_->counters();
    out["sent"] = c.changes_sent;
    out["received"] = c.changes_received;
    if (session_->state() == sync::SessionState::Failed) out["failure"] = session_->failure().to_string();
  }
  return out;
}

// ---- joining by invite code ----

Result<nlohmann::json> Client::join_open(const json& p) {
  URBIS_ASSIGN_OR_RETURN(Replica * r, need_replica());
  URBIS_ASSIGN_OR_RETURN(std::string code, str(p, "code"));
  URBIS_ASSIGN_OR_RETURN(InviteSecret secret, decode_invite_code(code));
  if (env_.now_ms() > secret.expires_ms) return Status(Code::Expired, "this invite code has expired");
  const SpaceId space = secret.space;
  join_abandon();
  auto held = r->space(space);
  if (held.is_ok() && held->my_role != Role::None) return json{{"space", space.hex()}, {"member", true}};
  if (!held.is_ok() && held.code() != Code::UnknownSpace) return held.status();
  auto join = std::make_unique<Join>();
  join->secret = secret;
  join->invite = std::make_unique<Identity>(invite_identity(secret));
  if (held.is_ok()) {
    URBIS_ASSIGN_OR_RETURN(join->scratch,
                           Replica::open(":memory:", identity_->duplicate(), env_,
                                         ReplicaOptions{.materialize = false, .synchronous_full = false}));
  }
  Replica& store = join->scratch ? *join->scratch : *r;
  join->session = std::make_unique<sync::JoinSession>(store, env_, secret, *join->invite, "the node");
  for (Bytes& f : join->session->start()) join_frames_.push_back(std::move(f));
  join_ = std::move(join);
  return json{{"space", space.hex()}, {"member", false}};
}

void Client::join_refused() {
  Join& j = *join_;
  // What the replica stored of the space goes at once (nothing of it was
  // handed to the host).
  if (!j.scratch && !j.dropped && replica_) {
    j.dropped = true;
    if (replica_->drop_space(j.secret.space).is_ok()) forget_space(j.secret.space);
  }
}

bool Client::joining(const SpaceId& space) const {
  return join_ && !join_->scratch && !join_->dropped && join_->secret.space == space;
}

void Client::join_abandon() {
  if (join_ && !join_->scratch && !join_->dropped && replica_) {
    const SpaceId space = join_->secret.space;
    join_->session.reset();  // it refers to the space's state in the replica
    if (replica_->drop_space(space).is_ok()) forget_space(space);
  }
  join_.reset();
  join_frames_.clear();
}

// A space dropped from the replica: forgotten here and reported to the host
// (takeEvents' "dropped"), which purges its copies and vacuums the store
// before its next snapshot (the dropped rows' pages).
void Client::forget_space(const SpaceId& space) {
  logged_.erase(space);
  acked_.erase(space);
  changed_.erase(space);
  seen_.erase(space);
  dropped_.push_back(space);
}

Status Client::join_receive(ByteView frame) {
  if (!join_ || !join_->session) return {Code::InvalidArgument, "no join is in progress"};
  sync::JoinSession& js = *join_->session;
  if (js.done()) return Status::ok();
  sync::Reply reply = js.receive(frame);
  for (Bytes& f : reply.frames) join_frames_.push_back(std::move(f));
  if (js.state() == sync::JoinSession::State::Refused) join_refused();
  return reply.status;
}

nlohmann::json Client::join_status() const {
  if (!join_) return {{"state", "none"}};
  const sync::JoinSession& js = *join_->session;
  switch (js.state()) {
    case sync::JoinSession::State::Syncing: return {{"state", "syncing"}};
    case sync::JoinSession::State::Pushed: return {{"state", "pushed"}};
    case sync::JoinSession::State::Accepted: return {{"state", "accepted"}};
    case sync::JoinSession::State::Refused: break;
  }
  return {{"state", "refused"},
          {"code", static_cast<int>(js.refusal().code())},
          {"codeName", std::string(code_name(js.refusal().code()))},
          {"message", js.refusal().message()}};
}

// Accepted (or already a member): the scratch log and the redeem become the
// replica's, through the log outbox; the open session is offered the space.
Result<nlohmann::json> Client::join_finish() {
  URBIS_ASSIGN_OR_RETURN(Replica * r, need_replica());
  std::optional<SpaceId> space;
  if (join_) {
    if (join_->session->state() != sync::JoinSession::State::Accepted)
      return invalid("the join was not accepted by the node");
    space = join_->secret.space;
    if (!join_->scratch) {
      // The replica holds the space, with the redeem: only the host lacks it.
      join_.reset();
      join_frames_.clear();
    } else {
      // The log holds the redeem as the witness node sent it back, receipted
      // (our own copy has no receipt, and no replica would take it).
      URBIS_ASSIGN_OR_RETURN(std::vector<Bytes> log, join_->scratch->changes_since(*space, {}));
      auto results = r->apply_batch(log);  // refusals, if any, are caught up by the next sync
      join_.reset();
      join_frames_.clear();
      for (const auto& result : results)
        if (!result.is_ok() && result.code() == Code::Storage) return result.status();
    }
  } else {
    return invalid("no join is in progress");
  }
  URBIS_RETURN_IF_ERROR(after_local_write(*space));
  URBIS_ASSIGN_OR_RETURN(SpaceInfo info, r->space(*space));
  return json{{"space", space->hex()}, {"role", role_name(info.my_role)}};
}

Status Client::receive(ByteView frame) {
  if (!session_) return {Code::InvalidArgument, "no session is open"};
  sync::Reply reply = session_->receive(frame);
  for (Bytes& f : reply.frames) frames_.push_back(std::move(f));
  if (!reply.status.is_ok()) return reply.status;
  note_heads_from_node(reply);
  // The sweep before our Want and a Live's verdict drop spaces.
  note_drops();
  // Changes frames store changes (discovery may add spaces); a Live may
  // keep a judged space, whose held-back changes go out now.
  if (reply.kind == sync::FrameKind::Changes || reply.kind == sync::FrameKind::Live)
    URBIS_RETURN_IF_ERROR(collect_log_all());
  // The node refusing a space this device holds (NotAMember: removed, or
  // the removal has not reached this device yet) is this device's news that
  // it lost access; a later Live for the space (added again) ends it.
  if (reply.peer_error) note_refusal(*reply.peer_error, reply.space);
  if (reply.kind == sync::FrameKind::Live && reply.space) refused_.erase(*reply.space);
  // A space is due for healing once the node has sent all of it (its Live)
  // and after every later push: never half-way through a catch-up, where
  // this replica would settle keys on a partial view.
  if (reply.space) {
    if (reply.kind == sync::FrameKind::Live) {
      live_.insert(*reply.space);
      heal_due_.insert(*reply.space);
    } else if (reply.kind == sync::FrameKind::Changes && live_.count(*reply.space)) {
      heal_due_.insert(*reply.space);
    }
  }
  return reply.status;
}

// The node's heads for this device: its Want (what it holds when the session
// starts) and each Ack (after it applied our batch).
void Client::note_heads_from_node(const sync::Reply& reply) {
  if (!identity_) return;
  for (const auto& [space, heads] : reply.heads)
    if (auto mine = heads.find(identity_->device()); mine != heads.end())
      acked_[space] = std::max(acked_[space], mine->second);
}

Result<uint64_t> Client::pending() {
  if (!identity_ || !replica_) return uint64_t{0};
  uint64_t n = 0;
  URBIS_ASSIGN_OR_RETURN(auto list, replica_->spaces());
  for (const SpaceInfo& s : list) {
    URBIS_ASSIGN_OR_RETURN(VersionVector vv, replica_->version_vector(s.id));
    auto mine = vv.find(identity_->device());
    if (mine == vv.end()) continue;
    auto acked = acked_.find(s.id);
    const uint64_t done = acked == acked_.end() ? 0 : acked->second;
    if (mine->second > done) n += mine->second - done;
  }
  return n;
}

Result<nlohmann::json> Client::restore(const std::vector<Bytes>& envelopes) {
  URBIS_ASSIGN_OR_RETURN(Replica * r, need_replica());
  json out = {{"applied", 0}, {"duplicate", 0}, {"held", 0}, {"refused", 0}};
  std::vector<Result<ApplyOutcome>> results = r->apply_batch(envelopes);
  for (size_t i = 0; i < results.size(); ++i) {
    const auto& res = results[i];
    if (!res.is_ok()) {
      out["refused"] = out["refused"].get<int>() + 1;
      continue;
    }
    note_seen(envelopes[i]);
    const char* key = *res == ApplyOutcome::Applied     ? "applied"
                      : *res == ApplyOutcome::Duplicate ? "duplicate"
                                                        : "held";
    out[key] = out[key].get<int>() + 1;
  }
  // Everything now stored came from the host's log: nothing to hand back.
  URBIS_ASSIGN_OR_RETURN(auto list, r->spaces());
  for (const SpaceInfo& s : list) {
    URBIS_ASSIGN_OR_RETURN(logged_[s.id], r->version_vector(s.id));
  }
  return out;
}

Result<Replica*> Client::need_replica() {
  if (!replica_) return Status(Code::NoKey, "no replica is open: create or unlock an identity first");
  return replica_.get();
}

Result<SpaceId> Client::space_of(const json& p) {
  URBIS_ASSIGN_OR_RETURN(std::string text, str(p, "space"));
  if (auto id = SpaceId::from_hex(text)) return *id;
  URBIS_ASSIGN_OR_RETURN(Replica * r, need_replica());
  URBIS_ASSIGN_OR_RETURN(auto list, r->spaces());
  std::optional<SpaceId> found;
  for (const SpaceInfo& s : list) {
    if (s.name != text) continue;
    if (found) return invalid("more than one space is named '" + text + "'; use its id");
    found = s.id;
  }
  if (!found) return Status(Code::UnknownSpace, "no space with id or name '" + text + "'");
  return *found;
}

Status Client::collect_log(const SpaceId& space) {
  if (joining(space)) return Status::ok();  // the join's until joinFinish
  if (session_ && session_->judging(space) && identity_) {
    // Held back while this device is no member; a member already (a join
    // finished meanwhile) keeps joinSpace's promise: durable at once (should
    // a later change of the stream remove it, the drop purges the log).
    auto role = replica_->member_role(space, identity_->device());
    if (!role.is_ok() || *role == Role::None) return Status::ok();
  }
  VersionVector& known = logged_[space];
  URBIS_ASSIGN_OR_RETURN(std::vector<Bytes> fresh, replica_->changes_since(space, known));
  if (fresh.empty()) return Status::ok();
  changed_[space] += fresh.size();
  for (Bytes& b : fresh) {
    note_seen(b);
    log_.push_back(std::move(b));
  }
  URBIS_ASSIGN_OR_RETURN(known, replica_->version_vector(space));
  return Status::ok();
}

Status Client::collect_log_all() {
  URBIS_ASSIGN_OR_RETURN(auto list, replica_->spaces());
  for (const SpaceInfo& s : list) URBIS_RETURN_IF_ERROR(collect_log(s.id));
  return Status::ok();
}

void Client::note_drops() {
  if (!session_) return;
  const std::vector<SpaceId>& all = session_->dropped_spaces();
  for (; drops_seen_ < all.size(); ++drops_seen_) {
    const SpaceId& space = all[drops_seen_];
    logged_.erase(space);
    acked_.erase(space);
    changed_.erase(space);
    seen_.erase(space);
    dropped_.push_back(space);
  }
}

void Client::close_session() {
  if (!session_) return;
  note_drops();
  if (replica_) {
    for (const SpaceId& space : session_->judging_spaces()) {
      // Never handed to the host: nothing unjudged outlives the session (a
      // space this device belongs to comes back with the next session).
      if (replica_->drop_space(space).is_ok()) forget_space(space);
    }
  }
  session_.reset();
  drops_seen_ = 0;
  live_.clear();
}

void Client::note_refusal(const Status& error, const std::optional<SpaceId>& space) {
  if (!replica_ || error.code() != Code::NotAMember) return;
  if (space && replica_->space(*space).is_ok()) refused_.insert(*space);
}

void Client::note_seen(ByteView envelope) {
  if (auto h = peek_envelope(envelope)) {
    uint64_t& at = seen_[h->space][h->author];
    at = std::max(at, h->ms());
  }
}

Status Client::after_local_write(const SpaceId& space) {
  URBIS_RETURN_IF_ERROR(collect_log(space));
  push_local_change(space);
  return Status::ok();
}

Status Client::after_commit(const SpaceId& space, const CommitInfo& info) {
  // The commit is the one change stored since the last method when the host
  // was handed everything else of the space: this device's change before it
  // is the last one logged. Otherwise (a space the session still judges, a
  // space the host was never handed) the log is collected by query.
  auto known = logged_.find(space);
  const bool judging = session_ && session_->judging(space);
  if (judging || known == logged_.end() || !identity_ || info.seq == 0) return after_local_write(space);
  auto mine = known->second.find(identity_->device());
  const uint64_t last = mine == known->second.end() ? 0 : mine->second;
  if (last + 1 != info.seq) return after_local_write(space);
  known->second[identity_->device()] = info.seq;
  changed_[space] += 1;
  note_seen(info.envelope);
  log_.push_back(info.envelope);
  push_local_change(space);
  return Status::ok();
}

void Client::push_local_change(const SpaceId& space) {
  // The host sends these only after the log append above is durable.
  if (session_)
    for (Bytes& f : session_->on_local_change(space)) frames_.push_back(std::move(f));
}

}  // namespace urbis::wasm
