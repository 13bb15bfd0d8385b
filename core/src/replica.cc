// Replica: open, spaces and membership, local commits, remote apply, the log.
#include <algorithm>
#include <limits>
#include <queue>
#include <string_view>
#include <unordered_map>

#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/wire_format_lite.h>

#include "content_rules.h"
#include "envelope_codec.h"
#include "replica_impl.h"

namespace urbis {
namespace {

constexpr size_t kSaltBytes = 16;

Status malformed(std::string what) { return Status(Code::Malformed, std::move(what)); }

ByteView view(const std::string& s) { return {reinterpret_cast<const uint8_t*>(s.data()), s.size()}; }

template <typename Id>
std::string to_str(const Id& id) {
  return std::string(reinterpret_cast<const char*>(id.bytes.data()), id.bytes.size());
}

}  // namespace

// ---------------------------------------------------------------- lifecycle

Replica::Impl::Impl(std::unique_ptr<Db> db, std::optional<Identity> identity, Env& env, ReplicaOptions options)
    : db_(std::move(db)),
      identity_(std::move(identity)),
      env_(env),
      options_(options),
      op_level_(options.op_level < 0 ? kOpLevel : std::min(options.op_level, kOpLevel)) {}

Replica::Impl::~Impl() { forget_keys(); }

void Replica::Impl::forget_keys() { keyring_.clear(); }

void Replica::Impl::reread_after_rollback() {
  forget_keys();
  (void)load_keys();
  resolvers_.clear();
  author_keys_.clear();
}

Status Replica::Impl::init() {
  URBIS_RETURN_IF_ERROR(prepare_schema(*db_, options_.synchronous_full, options_.before_migration));
  URBIS_RETURN_IF_ERROR(read_stored_hlc(/*at_open=*/true));
  {
    Stmt s = db_->prepare("SELECT 1 FROM held_usage LIMIT 1");
    held_maybe_ = s.step();
    URBIS_RETURN_IF_ERROR(s.status());
  }
  {
    Stmt s = db_->prepare("SELECT 1 FROM stale_entities LIMIT 1");
    stale_maybe_ = s.step();
    URBIS_RETURN_IF_ERROR(s.status());
  }
  URBIS_RETURN_IF_ERROR(load_keys());
  {
    // A store resolved under older membership rules (or none: before
    // version 5) is resolved again from its membership log.
    int stored = 0;
    {
      Stmt s = db_->prepare("SELECT value FROM meta WHERE key='membership_rules'");
      if (s.step()) stored = static_cast<int>(s.i64(0));
    }
    if (stored != kMembershipRules) {
      DbTransaction tx(*db_);
      URBIS_RETURN_IF_ERROR(tx.begin());
      URBIS_RETURN_IF_ERROR(resolve_all());
      Stmt r = db_->prepare("INSERT OR REPLACE INTO meta(key, value) VALUES('membership_rules', ?)");
      URBIS_RETURN_IF_ERROR(r.bind(1, kMembershipRules).run());
      URBIS_RETURN_IF_ERROR(tx.commit());
    }
  }
  if (!options_.materialize) return Status::ok();
  // A store materialized by a build that understood fewer op kinds is rebuilt
  // from the log, so ops it kept but skipped now appear.
  int stored_level = -1;
  {
    Stmt s = db_->prepare("SELECT value FROM meta WHERE key='op_level'");
    if (s.step()) stored_level = static_cast<int>(s.i64(0));
  }
  // A store materialized under older content rules (core/README.md) is
  // rebuilt once under the current ones.
  int stored_rules = 0;
  {
    Stmt s = db_->prepare("SELECT value FROM meta WHERE key='content_rules'");
    if (s.step()) stored_rules = static_cast<int>(s.i64(0));
  }
  if (stored_level != op_level_ || stored_rules != kContentRules) {
    DbTransaction tx(*db_);
    URBIS_RETURN_IF_ERROR(tx.begin());
    if ((stored_level >= 0 && stored_level < op_level_) || stored_rules != kContentRules)
      URBIS_RETURN_IF_ERROR(rebuild_all());
    Stmt s = db_->prepare("INSERT OR REPLACE INTO meta(key, value) VALUES('op_level', ?)");
    URBIS_RETURN_IF_ERROR(s.bind(1, op_level_).run());
    Stmt r = db_->prepare("INSERT OR REPLACE INTO meta(key, value) VALUES('content_rules', ?)");
    URBIS_RETURN_IF_ERROR(r.bind(1, kContentRules).run());
    URBIS_RETURN_IF_ERROR(tx.commit());
  }
  return Status::ok();
}

Status Replica::Impl::load_keys() {
  if (!identity_) return Status::ok();
  Stmt s = db_->prepare("SELECT space, epoch, sealed FROM grants WHERE device=?");
  s.bind(1, identity_->device().view());
  while (s.step()) remember_grant(s.i64(0), static_cast<uint32_t>(s.i64(1)), identity_->device(), s.blob(2));
  return s.status();
}

bool Replica::Impl::remember_grant(int64_t space, uint32_t epoch, const DeviceKey& device, ByteView sealed) {
  if (!identity_ || device != identity_->device() || !options_.materialize) return false;
  auto secret = identity_->box_secret_key();
  auto key = open_sealed_key(sealed, device, secret);
  sodium_memzero(secret.data(), secret.size());
  if (!key) return false;  // not sealed to us after all: ignore, it cannot be used
  const bool fresh = keyring_.add(space, epoch, *key);
  sodium_memzero(key->data(), key->size());
  return fresh;
}

const std::vector<SpaceKey>* Replica::Impl::keys_for(int64_t space, uint32_t epoch) const {
  return keyring_.find(space, epoch);
}

uint64_t Replica::Impl::clock_bound() const { return (env_.now_ms() + options_.max_clock_skew_ms) << 16 | 0xffff; }

Status Replica::Impl::check_clock(const pb::Header& h) const {
  const uint64_t now = env_.now_ms();
  const uint64_t at_ms = h.hlc() >> 16;
  if (at_ms <= now + options_.max_clock_skew_ms) return Status::ok();
  return Status(Code::ClockAhead, "change " + std::to_string(h.seq()) + " is dated " + utc_time_text(at_ms) +
                                      ", more than " + std::to_string(options_.max_clock_skew_ms / 1000) +
                                      " s ahead of this replica's clock (" + utc_time_text(now) +
                                      "); it applies once that clock has caught up");
}

Status Replica::Impl::read_stored_hlc(bool at_open) {
  // The version first: a commit after it moves it, and is read next time.
  URBIS_ASSIGN_OR_RETURN(const int64_t version, data_version());
  // At open the clock continues after the newest stored change, but never
  // from beyond now + the skew window: a store written before remote
  // changes were bounded may hold a change from the future (a negative value
  // is an HLC >= 2^63 from before those were refused). Later, only what is
  // within that bound counts: what another connection stored since was
  // within it (check_clock, or that connection's own clock), and a change
  // from the future would otherwise hold this clock at the bound, every
  // change dated the whole skew window ahead, for as long as it lasts. One
  // row per author of every space: what membership holds, not what history
  // does.
  const uint64_t bound = clock_bound();
  Stmt s = db_->prepare(
      "SELECT max((SELECT coalesce(max(newest_hlc), 0) FROM authors WHERE newest_hlc <= ?1),"
      " (SELECT coalesce(max(hlc), 0) FROM staged WHERE hlc <= ?1))");
  s.bind(1, at_open ? std::numeric_limits<int64_t>::max() : static_cast<int64_t>(bound));
  if (!s.step()) return s.status().is_ok() ? Status(Code::Storage, "no newest HLC") : s.status();
  if (s.i64(0) > 0) observe_hlc(std::min(static_cast<uint64_t>(s.i64(0)), bound));
  clock_version_ = version;
  return Status::ok();
}

uint64_t Replica::Impl::tick_hlc() {
  // Another connection on this store (urbis sync --watch beside urbis put)
  // may have applied a change dated after this one's clock: a change
  // written after it here must be dated after it, or an edit made after
  // seeing a value would lose to it. Read only when data_version moved;
  // a failed read keeps the clock in memory (the store's error shows in
  // the write that follows).
  if (auto version = data_version(); version.is_ok() && *version != clock_version_)
    (void)read_stored_hlc(/*at_open=*/false);
  hlc_ = std::max(hlc_ + 1, env_.now_ms() << 16);
  return hlc_;
}

// ---------------------------------------------------------------- lookups

Result<SpaceRow> Replica::Impl::find_space(const SpaceId& sid) {
  Stmt s = db_->prepare(
      "SELECT s.id, s.name, s.epoch, coalesce(e.key_id, x''), s.key_sound FROM spaces s "
      "LEFT JOIN epochs e ON e.space=s.id AND e.epoch=s.epoch WHERE s.sid=?");
  s.bind(1, sid.view());
  if (!s.step()) {
    URBIS_RETURN_IF_ERROR(s.status());
    return Status(Code::UnknownSpace, sid.hex());
  }
  return SpaceRow{s.i64(0), sid, s.str(1), static_cast<uint32_t>(s.i64(2)), s.bytes(3), s.i64(4) != 0};
}

Result<SpaceRow> Replica::Impl::find_space_by_row(int64_t id) {
  SpaceId sid;
  {
    Stmt s = db_->prepare("SELECT sid FROM spaces WHERE id=?");
    s.bind(1, id);
    if (!s.step()) return s.status().is_ok() ? Status(Code::Internal, "space row missing") : s.status();
    sid = s.id<SpaceId>(0);
  }
  return find_space(sid);
}

Result<AuthorRow> Replica::Impl::find_author(int64_t space, const DeviceKey& pk) {
  Stmt s = db_->prepare(
      "SELECT id, head_seq, head_hash, role, cutoff_seq, invite_expires, invite_witnesses, cutoff_hash, "
      "invite_role, scope, ranges_from FROM authors WHERE space=? AND pk=?");
  s.bind(1, space).bind(2, pk.view());
  AuthorRow a;
  a.space = space;
  a.pk = pk;
  if (!s.step()) {
    URBIS_RETURN_IF_ERROR(s.status());
    return a;
  }
  a.id = s.i64(0);
  a.head_seq = static_cast<uint64_t>(s.i64(1));
  a.head_hash = s.id<Hash>(2);
  a.role = static_cast<Role>(s.i64(3));
  a.cutoff_seq = static_cast<uint64_t>(s.i64(4));
  a.invite_expires = static_cast<uint64_t>(s.i64(5));
  a.invite_witnesses = s.bytes(6);
  a.cutoff_hash = s.bytes(7);
  a.invite_role = static_cast<Role>(s.i64(8));
  a.scope = s.bytes(9);
  a.ranges_from = static_cast<uint64_t>(s.i64(10));
  return a;
}

Result<AuthorRow> Replica::Impl::author_row(int64_t space, const DeviceKey& pk) {
  URBIS_ASSIGN_OR_RETURN(AuthorRow a, find_author(space, pk));
  if (a.id) return a;
  Stmt s = db_->prepare("INSERT INTO authors(space, pk) VALUES(?, ?)");
  URBIS_RETURN_IF_ERROR(s.bind(1, space).bind(2, pk.view()).run());
  a.id = db_->last_insert_rowid();
  // Only materialization creates rows here, and op keys name rows below
  // kMaxAuthorRows.
  if (a.id >= kMaxAuthorRows) return Status(Code::TooLarge, "too many authors in one store to materialize");
  author_keys_[a.id] = pk;
  return a;
}

Result<AuthorRow> Replica::Impl::member_row(int64_t space, const DeviceKey& pk) {
  URBIS_ASSIGN_OR_RETURN(AuthorRow a, find_author(space, pk));
  if (a.id) return a;
  // Charged to the space (and so to the admin whose change names the key):
  // a running count, the same on every replica that applied the same
  // membership changes.
  {
    Stmt c = db_->prepare("SELECT author_rows FROM spaces WHERE id=?");
    c.bind(1, space);
    if (!c.step()) return c.status().is_ok() ? Status(Code::Internal, "space row missing") : c.status();
    if (static_cast<uint64_t>(c.i64(0)) >= options_.max_authors_per_space)
      return Status(Code::TooLarge, "the space already names " + std::to_string(c.i64(0)) +
                                        " member keys, the most one space may (max_authors_per_space)");
  }
  Stmt s = db_->prepare("INSERT INTO authors(space, pk) VALUES(?, ?)");
  URBIS_RETURN_IF_ERROR(s.bind(1, space).bind(2, pk.view()).run());
  a.id = db_->last_insert_rowid();
  Stmt u = db_->prepare("UPDATE spaces SET author_rows=author_rows+1 WHERE id=?");
  URBIS_RETURN_IF_ERROR(u.bind(1, space).run());
  author_keys_[a.id] = pk;
  return a;
}

Result<DeviceKey> Replica::Impl::author_key(int64_t row) {
  auto it = author_keys_.find(row);
  if (it != author_keys_.end()) return it->second;
  Stmt s = db_->prepare("SELECT pk FROM authors WHERE id=?");
  s.bind(1, row);
  if (!s.step()) return Status(Code::Internal, "op refers to an unknown author row");
  DeviceKey pk = s.id<DeviceKey>(0);
  author_keys_[row] = pk;
  return pk;
}

// What a membership change records of a member that the resolver does not
// decide: an invite's terms and the highest pin of its chain.
Status Replica::Impl::save_membership(const AuthorRow& a) {
  Stmt s = db_->prepare(
      "UPDATE authors SET cutoff_seq=?, invite_expires=?, invite_witnesses=?, cutoff_hash=?, invite_role=? "
      "WHERE id=?");
  return s.bind(1, a.cutoff_seq)
      .bind(2, a.invite_expires)
      .bind(3, ByteView(a.invite_witnesses))
      .bind(4, ByteView(a.cutoff_hash))
      .bind(5, static_cast<int>(a.invite_role))
      .bind(6, a.id)
      .run();
}

// ---------------------------------------------------------------- spaces

Result<SpaceId> Replica::Impl::create_space(std::string_view name) {
  if (!identity_) return Status(Code::Forbidden, "a replica without an identity cannot create spaces");
  uint8_t salt[kSaltBytes];
  env_.random_bytes(salt);
  SpaceId sid = derive_space_id(identity_->device(), {salt, sizeof salt});
  SpaceKey key;
  env_.random_bytes(key);
  auto sealed = seal_key(key, identity_->device());
  const Bytes kid = key_id_of(key);
  sodium_memzero(key.data(), key.size());
  if (!sealed) return Status(Code::Internal, "cannot seal the space key to this device");

  pb::Membership m;
  m.set_genesis_salt(salt, sizeof salt);
  m.set_new_epoch(1);
  auto* u = m.add_updates();
  u->set_device(to_str(identity_->device()));
  u->set_role(pb::ROLE_ADMIN);
  auto* g = m.add_grants();
  g->set_epoch(1);
  g->set_device(to_str(identity_->device()));
  g->set_sealed_key(sealed->data(), sealed->size());
  g->set_key_id(std::string(kid.begin(), kid.end()));
  m.set_key_id(std::string(kid.begin(), kid.end()));

  SpaceRow row;  // id 0: created by apply
  row.sid = sid;
  row.name = std::string(name);
  DbTransaction tx(*db_);
  URBIS_RETURN_IF_ERROR(tx.begin());
  URBIS_ASSIGN_OR_RETURN(CommitInfo info, write_change(row, pb::CHANGE_MEMBERSHIP, m.SerializeAsString(), nullptr));
  (void)info;
  Stmt s = db_->prepare("UPDATE spaces SET name=? WHERE sid=?");
  URBIS_RETURN_IF_ERROR(s.bind(1, name).bind(2, sid.view()).run());
  URBIS_RETURN_IF_ERROR(tx.commit());
  return sid;
}

Result<SpaceInfo> Replica::Impl::space_info(const SpaceId& sid) {
  URBIS_ASSIGN_OR_RETURN(SpaceRow row, find_space(sid));
  SpaceInfo info{sid, row.name, row.epoch, Role::None};
  if (identity_) {
    URBIS_ASSIGN_OR_RETURN(AuthorRow me, find_author(row.id, identity_->device()));
    info.my_role = me.role;
  }
  return info;
}

Result<std::vector<SpaceInfo>> Replica::Impl::spaces() {
  std::vector<SpaceId> ids;
  {
    Stmt s = db_->prepare("SELECT sid FROM spaces ORDER BY id");
    while (s.step()) ids.push_back(s.id<SpaceId>(0));
    URBIS_RETURN_IF_ERROR(s.status());
  }
  std::vector<SpaceInfo> out;
  for (const auto& sid : ids) {
    URBIS_ASSIGN_OR_RETURN(SpaceInfo info, space_info(sid));
    out.push_back(std::move(info));
  }
  return out;
}

Result<std::vector<Member>> Replica::Impl::members(const SpaceId& sid) {
  URBIS_ASSIGN_OR_RETURN(SpaceRow row, find_space(sid));
  // Pending invites count until they expire by this replica's clock.
  Stmt s = db_->prepare(
      "SELECT pk, role, invite_expires, scope FROM authors "
      "WHERE space=?1 AND " URBIS_LIVE_MEMBER_SQL("?2") " ORDER BY pk");
  s.bind(1, row.id).bind(2, env_.now_ms());
  std::vector<Member> out;
  while (s.step()) {
    Member m{s.id<DeviceKey>(0), static_cast<Role>(s.i64(1)), static_cast<uint64_t>(s.i64(2)), {}};
    const Bytes scope = s.bytes(3);
    for (size_t i = 0; i + EntityId::kSize <= scope.size(); i += EntityId::kSize)
      m.scope.push_back(*EntityId::from_bytes(ByteView(scope).subspan(i, EntityId::kSize)));
    out.push_back(std::move(m));
  }
  URBIS_RETURN_IF_ERROR(s.status());
  return out;
}

Result<Role> Replica::Impl::member_role(const SpaceId& sid, const DeviceKey& device) {
  URBIS_ASSIGN_OR_RETURN(SpaceRow row, find_space(sid));
  Stmt s = db_->prepare("SELECT role FROM authors WHERE space=?1 AND pk=?2 AND " URBIS_LIVE_MEMBER_SQL("?3"));
  s.bind(1, row.id).bind(2, device.view()).bind(3, env_.now_ms());
  if (s.step()) return static_cast<Role>(s.i64(0));
  URBIS_RETURN_IF_ERROR(s.status());
  return Role::None;
}

Result<bool> Replica::Impl::member_of_any(const DeviceKey& device) {
  Stmt s = db_->prepare(
      "SELECT 1 FROM authors INDEXED BY authors_by_pk "
      "WHERE pk=?1 AND " URBIS_LIVE_MEMBER_SQL("?2") " LIMIT 1");
  s.bind(1, device.view()).bind(2, env_.now_ms());
  if (s.step()) return true;
  URBIS_RETURN_IF_ERROR(s.status());
  return false;
}

// ---------------------------------------------------------------- local writes

EntityId Transaction::create(std::string type) {
  EntityId id;
  env_->random_bytes(id.bytes);
  created_[id] = std::move(type);
  return id;
}

namespace {

// The JSON text of a value an app hands a Transaction, or "" with `invalid`
// set when it breaks a content rule: dump() recurses and throws on strings
// that are not UTF-8, so both are checked first (iteratively).
std::string value_text(const nlohmann::json& value, const std::string& field, std::string* invalid) {
  if (std::string p = json_problem(value); !p.empty()) {
    if (invalid->empty()) *invalid = "field '" + field.substr(0, 64) + "': " + p;
    return "";
  }
  return value.dump();
}

}  // namespace

void Transaction::set(const EntityId& id, std::string field, nlohmann::json value) {
  std::string text = value_text(value, field, &invalid_);
  ops_.push_back({pb::OP_SET, id, std::move(field), "", std::move(text), ""});
}

void Transaction::set_text(const EntityId& id, std::string field, std::string locale, std::string text,
                           std::string source_locale) {
  std::string value = value_text(nlohmann::json(std::move(text)), field, &invalid_);
  ops_.push_back(
      {pb::OP_SET_TEXT, id, std::move(field), std::move(locale), std::move(value), std::move(source_locale)});
}

void Transaction::add(const EntityId& id, std::string field, nlohmann::json element) {
  std::string text = value_text(element, field, &invalid_);
  ops_.push_back({pb::OP_SET_ADD, id, std::move(field), "", std::move(text), ""});
}

void Transaction::remove(const EntityId& id, std::string field, nlohmann::json element) {
  std::string text = value_text(element, field, &invalid_);
  ops_.push_back({pb::OP_SET_REMOVE, id, std::move(field), "", std::move(text), ""});
}

void Transaction::remove_entity(const EntityId& id) { ops_.push_back({pb::OP_DELETE, id, "_deleted", "", "true", ""}); }

void Transaction::restore_entity(const EntityId& id) {
  ops_.push_back({pb::OP_RESTORE, id, "_deleted", "", "false", ""});
}

Result<std::vector<CommitInfo>> Replica::Impl::commit_all(const Transaction* txs, size_t n) {
  if (!identity_) return Status(Code::Forbidden, "a replica without an identity cannot write");
  std::vector<CommitInfo> out;
  out.reserve(n);
  URBIS_RETURN_IF_ERROR(local_write([&]() -> Status {
    for (size_t i = 0; i < n; ++i) {
      auto info = commit_one(txs[i]);
      if (!info.is_ok()) return info.status();
      // SQLite ends a transaction itself on some failures (a full disk):
      // what follows would be written outside it.
      if (!db_->in_transaction()) return Status(Code::Storage, "the store ended the transaction of these commits");
      out.push_back(std::move(info).value());
    }
    return Status::ok();
  }));
  return out;
}

Status Replica::Impl::local_write(const std::function<Status()>& write) {
  DbTransaction dbtx(*db_);
  URBIS_RETURN_IF_ERROR(dbtx.begin());
  bool touched = false;
  Status st = [&]() -> Status {
    DeferRefresh defer(*this);
    WholeTx whole(*this);
    URBIS_RETURN_IF_ERROR(write());
    // The entities' summaries, facets and full text are refreshed by the
    // next read (find), once for every put made since: what a put must
    // write at once is its change and its values (~8 pages, was ~20), and
    // the full-text index takes its updates in chunks.
    touched = !dirty_.empty();
    URBIS_RETURN_IF_ERROR(mark_stale());
    return dbtx.commit();
  }();
  if (!st.is_ok()) {
    // Every change of the group is rolled back, a heal's included: the keys
    // and resolvers it touched are read again, as after a failed batch.
    dbtx.rollback();
    dirty_.clear();
    reread_after_rollback();
    return st;
  }
  if (touched) own_stale_ = true;
  return Status::ok();
}

namespace {

// Why an op breaks the content rules that readers apply (materialize.cc,
// op_slot), or "": the writer refuses what every reader would ignore.
std::string op_problem(int kind, const std::string& field, const std::string& locale, const std::string& source_locale,
                       const std::string& value) {
  if (field.empty() || field.size() > kMaxFieldBytes || !valid_utf8(field))
    return "a field name has 1 to " + std::to_string(kMaxFieldBytes) + " bytes of UTF-8";
  std::string where = "field '" + field.substr(0, 64) + "'";
  if (kind == pb::OP_SET_TEXT &&
      (locale.empty() || locale.size() > kMaxLocaleBytes || source_locale.size() > kMaxLocaleBytes ||
       !valid_utf8(locale) || !valid_utf8(source_locale)))
    return where + ": a locale has 1 to " + std::to_string(kMaxLocaleBytes) + " bytes of UTF-8";
  // The value is dump() of a value json_problem() passed (Transaction): JSON,
  // UTF-8 and shallow enough by construction; its size is left to check.
  if (kind != pb::OP_SET_REMOVE && value.size() > kMaxValueBytes)
    return where + ": value of " + std::to_string(value.size()) + " bytes exceeds " + std::to_string(kMaxValueBytes);
  return "";
}

}  // namespace

Result<std::pair<SpaceRow, AuthorRow>> Replica::Impl::writer_rows(const Transaction& tx, bool seal_first) {
  if (tx.empty()) return Status(Code::InvalidArgument, "empty transaction");
  if (tx.size() >= kMaxOpsPerChange)
    return Status(Code::TooLarge, "at most " + std::to_string(kMaxOpsPerChange - 1) + " ops per transaction");
  if (!tx.invalid_.empty()) return Status(Code::InvalidArgument, tx.invalid_);
  for (const auto& [id, type] : tx.created_)
    if (type.empty() || type.size() > kMaxTypeBytes || !valid_utf8(type))
      return Status(Code::InvalidArgument,
                    "an entity type has 1 to " + std::to_string(kMaxTypeBytes) + " bytes of UTF-8");
  for (const auto& op : tx.ops_)
    if (std::string p = op_problem(op.kind, op.field, op.locale, op.source_locale, op.value); !p.empty())
      return Status(Code::InvalidArgument, p);
  URBIS_ASSIGN_OR_RETURN(SpaceRow space, find_space(tx.space()));
  // A commit: this device's pending change of the space comes first, its
  // seq being the one this change would take.
  if (seal_first) URBIS_RETURN_IF_ERROR(try_seal(space.id));
  URBIS_ASSIGN_OR_RETURN(AuthorRow me, find_author(space.id, identity_->device()));
  if (!space.key_sound && me.role == Role::Admin) {
    // Two admins rotated at once: this admin settles the keys first, before
    // the body names its own ops by the seq the change will have (a heal
    // takes the next one).
    URBIS_ASSIGN_OR_RETURN(bool healed, heal_locked(space));
    if (healed) {
      URBIS_ASSIGN_OR_RETURN(space, find_space(space.sid));
      URBIS_ASSIGN_OR_RETURN(me, find_author(space.id, identity_->device()));
    }
  }
  if (!can_write(me.role))
    return Status(Code::Forbidden,
                  "this device may not write in the space (role " + std::string(role_name(me.role)) + ")");
  return std::make_pair(std::move(space), std::move(me));
}

Result<pb::Body> Replica::Impl::content_body(const Transaction& tx, const SpaceRow& space, uint64_t seq,
                                             uint32_t first_index) {
  // Each op names the values it overwrites: the live ones in the store plus
  // those written earlier in this transaction. The register/set key is the
  // locale (texts), the element (sets) or "" (plain fields).
  pb::Body body;
  std::map<DeviceKey, uint32_t> author_index;
  // The op of this transaction live in each register it wrote (entity,
  // kind, field, key), for the next op of that register to overwrite: at
  // most one, since each op overwrites every earlier one. -1: a remove.
  struct Register {
    const EntityId* entity;
    int kind;
    std::string_view field, key;  // into tx's ops, which outlive the map
    bool operator==(const Register& o) const {
      return *entity == *o.entity && kind == o.kind && field == o.field && key == o.key;
    }
  };
  struct RegisterHash {
    size_t operator()(const Register& r) const {
      const std::hash<std::string_view> h;
      size_t x = h(std::string_view(reinterpret_cast<const char*>(r.entity->bytes.data()), r.entity->bytes.size()));
      x = x * 31 + static_cast<size_t>(r.kind);
      x = x * 1000003 ^ h(r.field);
      return x * 1000003 ^ h(r.key);
    }
  };
  std::unordered_map<Register, int64_t, RegisterHash> in_tx;
  in_tx.reserve(tx.size());
  uint32_t index = first_index;
  auto ref_to = [&](const DeviceKey& author, uint64_t s, uint32_t i) {
    auto [it, fresh] = author_index.try_emplace(author, body.authors_size());
    if (fresh) body.add_authors(to_str(author));
    pb::OpRef r;
    r.set_author(it->second);
    r.set_seq(s);
    r.set_index(i);
    return r;
  };
  // The body groups ops by entity (in order of first appearance) and op
  // indices follow the body's order, which is how appliers count them.
  std::vector<const Transaction::PendingOp*> ordered;
  {
    std::map<EntityId, std::vector<const Transaction::PendingOp*>> by_entity;
    std::vector<EntityId> first_seen;
    for (const auto& op : tx.ops_) {
      auto& list = by_entity[op.entity];
      if (list.empty()) first_seen.push_back(op.entity);
      list.push_back(&op);
    }
    for (const auto& e : first_seen) ordered.insert(ordered.end(), by_entity[e].begin(), by_entity[e].end());
  }
  pb::EntityOps* group = nullptr;
  int64_t entity = 0;
  for (const auto* opp : ordered) {
    const auto& op = *opp;
    if (!group || group->id() != to_str(op.entity)) {
      std::string type;
      entity = 0;
      auto created = tx.created_.find(op.entity);
      Stmt s = db_->prepare("SELECT id, type FROM entities WHERE space=? AND eid=?");
      s.bind(1, space.id).bind(2, op.entity.view());
      if (s.step()) {
        entity = s.i64(0);
        type = s.str(1);
      } else if (created != tx.created_.end()) {
        type = created->second;
      } else {
        return Status(Code::NotFound, "no entity " + op.entity.hex() + " in this space");
      }
      group = body.add_entities();
      group->set_id(to_str(op.entity));
      group->set_type(type);
    }
    const std::string_view key = op.kind == pb::OP_SET_TEXT                                    ? op.locale
                                 : (op.kind == pb::OP_SET_ADD || op.kind == pb::OP_SET_REMOVE) ? op.value
                                                                                               : std::string_view("");
    // Only values of the same register (kind, field, key): readers give an
    // overwrite of another register no effect.
    const int vkind = op.kind == pb::OP_SET_TEXT                                  ? 1
                      : op.kind == pb::OP_SET_ADD || op.kind == pb::OP_SET_REMOVE ? 2
                                                                                  : 0;
    auto* out = group->add_ops();
    out->set_kind(static_cast<pb::OpKind>(op.kind));
    out->set_field(op.field);
    out->set_locale(op.locale);
    out->set_source_locale(op.source_locale);
    if (op.kind != pb::OP_SET_REMOVE) out->set_value(op.value);
    // An add names the live adds of the same element too: re-adding an
    // element already in the set replaces them instead of piling up one
    // live value per add (the element stays; a concurrent remove that did
    // not see this add leaves it, as add-wins requires).
    {
      // The store's live values of the register: named by the first op of
      // this transaction that writes it (a later one names that op; naming
      // them again would leave readers a `superseded` row for values
      // already gone).
      auto [live, first_here] = in_tx.try_emplace(Register{&op.entity, vkind, op.field, key}, -1);
      if (entity && first_here) {
        Stmt s = db_->prepare("SELECT op FROM vals WHERE entity=? AND field=? AND key=? AND kind=?");
        s.bind(1, entity).bind(2, op.field).bind(3, key).bind(4, vkind);
        while (s.step()) {
          int64_t k = s.i64(0);
          URBIS_ASSIGN_OR_RETURN(DeviceKey author, author_key(op_author_row(k)));
          *out->add_overwrites() = ref_to(author, op_seq(k), op_index(k));
        }
        URBIS_RETURN_IF_ERROR(s.status());
      }
      if (live->second >= 0)
        *out->add_overwrites() = ref_to(identity_->device(), seq, static_cast<uint32_t>(live->second));
      live->second = op.kind != pb::OP_SET_REMOVE ? static_cast<int64_t>(index) : -1;
    }
    ++index;
  }
  {
    // A scoped writer writes entities of its cities (and comments, and its
    // profile): what readers would give no effect is refused here.
    URBIS_ASSIGN_OR_RETURN(AuthorRow me, find_author(space.id, identity_->device()));
    if (!me.scope.empty())
      for (const auto& group : body.entities()) {
        if (scope_free(group.type())) continue;
        auto eid = EntityId::from_string(group.id());
        Bytes home;
        {
          Stmt s = db_->prepare("SELECT home FROM entities WHERE space=? AND eid=?");
          s.bind(1, space.id).bind(2, eid->view());
          if (s.step()) home = s.bytes(0);
          URBIS_RETURN_IF_ERROR(s.status());
        }
        if (home.empty()) home = home_of_group(group, *eid);
        if (!in_scope(home, me.scope))
          return Status(Code::Forbidden, "your role is limited to some cities, and " + group.type() + " " +
                                             eid->hex().substr(0, 8) +
                                             (home.empty() ? " names no city" : " belongs to another city"));
      }
  }
  return body;
}

Result<CommitInfo> Replica::Impl::commit_one(const Transaction& tx) {
  URBIS_ASSIGN_OR_RETURN(auto rows, writer_rows(tx, /*seal_first=*/true));
  auto& [space, me] = rows;
  URBIS_ASSIGN_OR_RETURN(pb::Body body, content_body(tx, space, me.head_seq + 1, 0));
  URBIS_ASSIGN_OR_RETURN(CommitInfo info,
                         write_change(space, pb::CHANGE_CONTENT, body.SerializeAsString(), &body, &me));
  info.ops = tx.size();
  return info;
}

// ---------------------------------------------------------------- staged puts

namespace {

// staged.at of a pending change closed to new puts; of one also parked:
// its values out of `vals` (try_seal), materialized again where it seals.
constexpr int64_t kClosed = 0;
constexpr int64_t kParked = -1;

// A space's pending change (Replica::stage), as its last put's row has it:
// seq 0 when nothing is staged.
struct Pending {
  uint64_t seq = 0, hlc = 0;
  // This replica's clock at its first put; kClosed: closed to new puts;
  // kParked: closed, and its values out of `vals` (try_seal).
  int64_t at_ms = 0;
  uint32_t next = 0;  // the op index the next put starts at
  int64_t bytes = 0;  // body bytes staged so far
  DeviceKey author;
};

Result<Pending> read_pending(Db& db, int64_t space) {
  Pending p;
  Stmt s = db.prepare(
      "SELECT seq, hlc, at, first + ops, bytes, author FROM staged WHERE space=? ORDER BY first DESC LIMIT 1");
  s.bind(1, space);
  if (s.step()) {
    p.seq = static_cast<uint64_t>(s.i64(0));
    p.hlc = static_cast<uint64_t>(s.i64(1));
    p.at_ms = s.i64(2);
    p.next = static_cast<uint32_t>(s.i64(3));
    p.bytes = s.i64(4);
    p.author = s.id<DeviceKey>(5);
  }
  URBIS_RETURN_IF_ERROR(s.status());
  return p;
}

}  // namespace

Result<std::vector<Replica::Impl::StagedPut>> Replica::Impl::read_staged(int64_t space) {
  std::vector<StagedPut> puts;  // at most kMaxStagedBytes and one put
  Stmt s =
      db_->prepare("SELECT first, seq, hlc, author, ops, body, at, bytes FROM staged WHERE space=? ORDER BY first");
  s.bind(1, space);
  while (s.step())
    puts.push_back({static_cast<uint32_t>(s.i64(0)), static_cast<uint64_t>(s.i64(1)), static_cast<uint64_t>(s.i64(2)),
                    s.id<DeviceKey>(3), static_cast<uint32_t>(s.i64(4)), s.bytes(5), s.i64(6), s.i64(7)});
  URBIS_RETURN_IF_ERROR(s.status());
  return puts;
}

Status Replica::Impl::insert_staged(int64_t space, const StagedPut& put) {
  Stmt ins = db_->prepare(
      "INSERT INTO staged(space, first, author, seq, hlc, at, ops, bytes, body) VALUES(?,?,?,?,?,?,?,?,?)");
  return ins.bind(1, space)
      .bind(2, static_cast<int64_t>(put.first))
      .bind(3, put.author.view())
      .bind(4, put.seq)
      .bind(5, put.hlc)
      .bind(6, put.at)
      .bind(7, static_cast<int64_t>(put.ops))
      .bind(8, put.bytes)
      .bind(9, ByteView(put.body))
      .run();
}

pb::Header Replica::Impl::own_header(const SpaceRow& space, const AuthorRow& me, pb::ChangeKind kind, uint64_t hlc,
                                     uint32_t epoch) {
  pb::Header h;
  h.set_space(to_str(space.sid));
  h.set_author(to_str(identity_->device()));
  h.set_seq(me.head_seq + 1);
  if (me.head_seq) h.set_prev_hash(to_str(me.head_hash));
  h.set_hlc(hlc);
  h.set_epoch(epoch);
  h.set_kind(kind);
  if (kind == pb::CHANGE_CONTENT) {
    uint8_t nonce[crypto_aead_xchacha20poly1305_ietf_NPUBBYTES];
    env_.random_bytes(nonce);
    h.set_nonce(nonce, sizeof nonce);
  }
  return h;
}

Result<StageInfo> Replica::Impl::stage(const Transaction& tx) {
  if (!identity_) return Status(Code::Forbidden, "a replica without an identity cannot write");
  if (!options_.materialize)
    return Status(Code::InvalidArgument, "a store opened without materializing content cannot stage puts");
  StageInfo info;
  URBIS_RETURN_IF_ERROR(local_write([&]() -> Status {
    URBIS_ASSIGN_OR_RETURN(auto rows, writer_rows(tx, /*seal_first=*/false));
    auto& [space, me] = rows;
    // Refused now, as commit() would be, rather than at the seal.
    URBIS_ASSIGN_OR_RETURN(const SpaceKey* key, content_key(space));
    (void)key;
    if (me.id >= kMaxAuthorRows)
      return Status(Code::TooLarge, "this store holds too many authors to materialize their ops");
    URBIS_ASSIGN_OR_RETURN(Pending pending, read_pending(*db_, space.id));
    if (pending.seq && pending.author != me.pk)
      return Status(Code::Forbidden, "device " + pending.author.hex().substr(0, 16) +
                                         " has puts staged in this space, not yet sealed: only it seals them, and "
                                         "no other identity stages here until it has");
    if (pending.seq && pending.seq != me.head_seq + 1) {
      // Not this chain's next change (seal_staged moves it there): sealed
      // first, this put starts the next.
      URBIS_RETURN_IF_ERROR(seal_staged(space.id).status());
      URBIS_ASSIGN_OR_RETURN(me, find_author(space.id, identity_->device()));
      pending = Pending{};
    }
    URBIS_ASSIGN_OR_RETURN(pb::Body body,
                           content_body(tx, space, pending.seq ? pending.seq : me.head_seq + 1, pending.next));
    std::string plain = body.SerializeAsString();
    // Sealed first when this put would take it past a bound, or when its
    // first put is more than kMaxStagedAgeMs old by this replica's clock
    // (its puts carry that put's HLC), or the clock went back, or it was
    // closed (try_seal, restage).
    const uint64_t now_ms = env_.now_ms();
    if (pending.seq && (pending.next + tx.size() > kMaxStagedOps ||
                        static_cast<size_t>(pending.bytes) + plain.size() > kMaxStagedBytes ||
                        pending.at_ms <= kClosed || now_ms < static_cast<uint64_t>(pending.at_ms) ||
                        now_ms - static_cast<uint64_t>(pending.at_ms) > kMaxStagedAgeMs)) {
      URBIS_RETURN_IF_ERROR(seal_staged(space.id).status());
      URBIS_ASSIGN_OR_RETURN(me, find_author(space.id, identity_->device()));
      pending = Pending{};
      // Numbered again, from the next change's first op.
      URBIS_ASSIGN_OR_RETURN(body, content_body(tx, space, me.head_seq + 1, 0));
      plain = body.SerializeAsString();
    }
    if (!pending.seq) {
      pending.seq = me.head_seq + 1;
      pending.hlc = tick_hlc();
      pending.at_ms = static_cast<int64_t>(now_ms);
    }
    pending.bytes += static_cast<int64_t>(plain.size());
    URBIS_RETURN_IF_ERROR(
        insert_staged(space.id, {pending.next, pending.seq, pending.hlc, me.pk, static_cast<uint32_t>(tx.size()),
                                 Bytes(plain.begin(), plain.end()), pending.at_ms, pending.bytes}));
    // Its values, as the sealed change will give them to every replica
    // (the same ops, ids and HLC); a type change rebuilds the space, staged
    // puts included (rebuild_space).
    URBIS_RETURN_IF_ERROR(
        materialize(space, me, pending.seq, pending.hlc, space.epoch, body, /*claims_only=*/false, pending.next));
    if (retyped_) URBIS_RETURN_IF_ERROR(rebuild_space(space));
    retyped_ = false;
    info.seq = pending.seq;
    info.first_index = pending.next;
    info.ops = tx.size();
    info.staged_ops = pending.next + tx.size();
    return Status::ok();
  }));
  return info;
}

Result<std::optional<CommitInfo>> Replica::Impl::seal_staged(int64_t space_id) {
  // The puts' bodies, in order, become one body: their entity groups one
  // after the other (op indexes follow the body's order, as each put
  // numbered them), their author tables merged.
  pb::Body merged;
  std::map<std::string, uint32_t> author_index;
  uint64_t seq = 0, hlc = 0;
  uint32_t expect = 0;
  bool parked = false;
  URBIS_ASSIGN_OR_RETURN(std::vector<StagedPut> rows, read_staged(space_id));
  for (StagedPut& row : rows) {
    if (row.first != expect || (seq && row.seq != seq))
      return Status(Code::Internal, "the staged puts of a space do not follow each other");
    if (!identity_ || row.author != identity_->device())
      return Status(Code::Forbidden, "the puts staged in this space were made by device " +
                                         row.author.hex().substr(0, 16) + ": only that device's identity seals them");
    seq = row.seq;
    hlc = row.hlc;
    expect += row.ops;
    parked = row.at == kParked;
    pb::Body put;
    if (!put.ParseFromArray(row.body.data(), static_cast<int>(row.body.size())))
      return Status(Code::Internal, "a staged put does not parse");
    std::vector<uint32_t> remap;
    remap.reserve(static_cast<size_t>(put.authors_size()));
    for (const auto& a : put.authors()) {
      auto [it, fresh] = author_index.try_emplace(a, merged.authors_size());
      if (fresh) merged.add_authors(a);
      remap.push_back(it->second);
    }
    for (auto& group : *put.mutable_entities()) {
      for (auto& op : *group.mutable_ops())
        for (auto& ref : *op.mutable_overwrites()) {
          if (ref.author() >= remap.size()) return Status(Code::Internal, "a staged put names no such author");
          ref.set_author(remap[ref.author()]);
        }
      *merged.add_entities() = std::move(group);
    }
  }
  if (!seq) return std::optional<CommitInfo>();
  URBIS_ASSIGN_OR_RETURN(SpaceRow space, find_space_by_row(space_id));
  URBIS_ASSIGN_OR_RETURN(AuthorRow me, find_author(space.id, identity_->device()));
  // Refused before anything moves (a move rebuilds the space: a seal that
  // cannot succeed must not do that on every send).
  URBIS_ASSIGN_OR_RETURN(const SpaceKey* key, content_key(space));
  if (parked || seq != me.head_seq + 1) {
    // Parked (try_seal), or the chain is no longer just below the pending
    // seq (a change of this device took it while this store could not seal,
    // or a reset moved the head): the puts move after the head first, then
    // seal there.
    URBIS_ASSIGN_OR_RETURN(std::vector<StagedPut> puts, set_aside_staged(space, /*materialized=*/!parked));
    URBIS_RETURN_IF_ERROR(restage(space, std::move(puts)));
    return seal_staged(space_id);
  }
  // Its seq is the head's next (checked above), dated by its first put.
  URBIS_ASSIGN_OR_RETURN(CommitInfo info,
                         log_own_change(space, me, own_header(space, me, pb::CHANGE_CONTENT, hlc, space.epoch),
                                        merged.SerializeAsString(), key, &merged, /*materialized=*/true));
  info.ops = expect;
  URBIS_RETURN_IF_ERROR(db_->prepare("DELETE FROM staged WHERE space=?").bind(1, space.id).run());
  return std::optional<CommitInfo>(std::move(info));
}

Result<std::optional<CommitInfo>> Replica::Impl::seal(const SpaceId& sid) {
  if (!identity_) return Status(Code::Forbidden, "a replica without an identity cannot write");
  std::optional<CommitInfo> out;
  URBIS_RETURN_IF_ERROR(local_write([&]() -> Status {
    URBIS_ASSIGN_OR_RETURN(SpaceRow space, find_space(sid));
    URBIS_ASSIGN_OR_RETURN(out, seal_staged(space.id));
    return Status::ok();
  }));
  return out;
}

Result<bool> Replica::Impl::has_staged(int64_t space) {
  Stmt s =
      space ? db_->prepare("SELECT 1 FROM staged WHERE space=? LIMIT 1") : db_->prepare("SELECT 1 FROM staged LIMIT 1");
  if (space) s.bind(1, space);
  const bool found = s.step();
  URBIS_RETURN_IF_ERROR(s.status());
  return found;
}

Status Replica::Impl::try_seal(int64_t space) {
  URBIS_ASSIGN_OR_RETURN(Pending pending, read_pending(*db_, space));
  if (!pending.seq) return Status::ok();
  if (identity_ && options_.materialize && pending.author == identity_->device()) {
    URBIS_RETURN_IF_ERROR(db_->prepare("SAVEPOINT seal").run());
    auto sealed = seal_staged(space);
    if (!sealed.is_ok()) {
      (void)db_->prepare("ROLLBACK TO seal").run();
      author_keys_.clear();  // what a content change's rollback can give back (apply_parsed)
    }
    (void)db_->prepare("RELEASE seal").run();
    // The store's failure stops what follows. Not sealable now (its key or
    // its role lost since, by an upgrade's rules): what follows goes on, and
    // the puts move after it when they seal (seal_staged).
    if (sealed.is_ok() || sealed.code() == Code::Storage) return sealed.status();
  }
  // Closed to new puts (a put after what is written or applied now must be
  // dated after it); this open cannot seal it (another identity or none,
  // not materializing) or could not. When it could not, this device's next
  // write takes its seq: its values leave `vals` first (parked: the space
  // rebuilt without them), or their op ids would be taken twice; they come
  // back at the seal, after the head (seal_staged). Only where the space's
  // key is held (a rebuild without it would leave the space dark); another
  // open keeps them where they are, and the device's seal rebuilds once the
  // chain has passed them. Reached only after an upgrade's new membership
  // rules took this device's role or its key's soundness with puts staged
  // (nothing else changes those without sealing first); the parked state
  // itself, made by hand, has a test (stage_test.cc, "parked puts").
  URBIS_ASSIGN_OR_RETURN(SpaceRow row, find_space_by_row(space));
  const bool own = identity_ && options_.materialize && pending.author == identity_->device() && writing_key(row);
  if (!own || pending.at_ms == kParked)
    return db_->prepare("UPDATE staged SET at=? WHERE space=? AND at>?")
        .bind(1, kClosed)
        .bind(2, space)
        .bind(3, kClosed)
        .run();
  URBIS_RETURN_IF_ERROR(db_->prepare("UPDATE staged SET at=? WHERE space=?").bind(1, kParked).bind(2, space).run());
  return rebuild_space(row);
}

Status Replica::Impl::settle_staged(const std::vector<Result<ParsedChange>>& parsed) {
  // Nearly always nothing is staged: one lookup.
  URBIS_ASSIGN_OR_RETURN(bool any, has_staged(0));
  if (!any) return Status::ok();
  std::vector<SpaceId> spaces;  // of the batch, once each (sorted: a batch may name many)
  for (const auto& p : parsed)
    if (p.is_ok()) spaces.push_back(p->space);
  std::sort(spaces.begin(), spaces.end());
  spaces.erase(std::unique(spaces.begin(), spaces.end()), spaces.end());
  for (const SpaceId& sid : spaces) {
    auto found = find_space(sid);
    if (!found.is_ok()) {
      if (found.code() == Code::UnknownSpace) continue;
      return found.status();
    }
    URBIS_RETURN_IF_ERROR(try_seal(found->id));
  }
  return Status::ok();
}

Result<std::vector<Replica::Impl::StagedPut>> Replica::Impl::set_aside_staged(const SpaceRow& space,
                                                                              bool materialized) {
  URBIS_ASSIGN_OR_RETURN(std::vector<StagedPut> puts, read_staged(space.id));
  URBIS_RETURN_IF_ERROR(db_->prepare("DELETE FROM staged WHERE space=?").bind(1, space.id).run());
  if (materialized) URBIS_RETURN_IF_ERROR(rebuild_space(space));  // their values go with them
  return puts;
}

Status Replica::Impl::restage(const SpaceRow& space, std::vector<StagedPut> puts) {
  if (puts.empty()) return Status::ok();
  URBIS_ASSIGN_OR_RETURN(AuthorRow author, find_author(space.id, puts.front().author));
  const uint64_t seq = author.head_seq + 1;
  int64_t bytes = 0;
  for (StagedPut& put : puts) {
    pb::Body body;
    if (put.author != author.pk || !body.ParseFromArray(put.body.data(), static_cast<int>(put.body.size())))
      return Status(Code::Internal, "a staged put does not parse");
    // Its ops' ids move to the new seq, and so do its references to them.
    if (put.seq != seq) {
      const std::string me = to_str(author.pk);
      for (auto& group : *body.mutable_entities())
        for (auto& op : *group.mutable_ops())
          for (auto& ref : *op.mutable_overwrites())
            if (ref.seq() == put.seq && ref.author() < static_cast<uint32_t>(body.authors_size()) &&
                body.authors(static_cast<int>(ref.author())) == me)
              ref.set_seq(seq);
    }
    const std::string plain = body.SerializeAsString();
    bytes += static_cast<int64_t>(plain.size());
    // Closed: a put after what moved them is dated after it.
    URBIS_RETURN_IF_ERROR(insert_staged(
        space.id, {put.first, seq, put.hlc, author.pk, put.ops, Bytes(plain.begin(), plain.end()), kClosed, bytes}));
    URBIS_RETURN_IF_ERROR(
        materialize(space, author, seq, put.hlc, space.epoch, body, /*claims_only=*/false, put.first));
  }
  if (retyped_) URBIS_RETURN_IF_ERROR(rebuild_space(space));
  retyped_ = false;
  return Status::ok();
}

Result<size_t> Replica::Impl::staged_ops(const SpaceId& sid) {
  URBIS_ASSIGN_OR_RETURN(SpaceRow space, find_space(sid));
  URBIS_ASSIGN_OR_RETURN(Pending pending, read_pending(*db_, space.id));
  return static_cast<size_t>(pending.next);
}

Result<const SpaceKey*> Replica::Impl::content_key(const SpaceRow& space) {
  // An admin's commit healed an unsound key before it numbered its ops
  // (writer_rows): a heal here would take the seq those ops name.
  if (!space.key_sound)
    return Status(Code::NoKey,
                  "the space's key reached someone who is no longer a member (two admins changed "
                  "members at once); an admin's next sync settles it, then writing works again");
  const SpaceKey* key = writing_key(space);
  if (!key)
    return Status(Code::NoKey, "this device holds no key for epoch " + std::to_string(space.epoch) +
                                   " (an admin's next sync grants it)");
  return key;
}

Result<CommitInfo> Replica::Impl::write_change(SpaceRow space, pb::ChangeKind kind, const std::string& plain,
                                               const pb::Body* body, const AuthorRow* me_known) {
  AuthorRow me;
  if (me_known) {
    me = *me_known;
  } else if (space.id) {
    URBIS_ASSIGN_OR_RETURN(me, find_author(space.id, identity_->device()));
  }
  std::string with_parents;
  if (kind == pb::CHANGE_MEMBERSHIP && space.id) {
    // This device's pending change of the space comes first in its chain
    // (or, not sealable, after this change: a heal must not wait for it).
    URBIS_RETURN_IF_ERROR(try_seal(space.id));
    URBIS_ASSIGN_OR_RETURN(me, find_author(space.id, identity_->device()));
    // It follows the membership changes this replica holds: the heads of
    // the space's membership graph (docs/membership.md).
    pb::Membership m;
    if (!m.ParseFromString(plain)) return Status(Code::Internal, "membership body does not parse");
    URBIS_ASSIGN_OR_RETURN(std::vector<Hash> heads, membership_heads(space));
    std::sort(heads.begin(), heads.end());
    if (heads.size() > static_cast<size_t>(kMaxParents)) heads.resize(kMaxParents);
    m.clear_parents();
    for (const auto& hh : heads) m.add_parents(to_str(hh));
    with_parents = m.SerializeAsString();
  }
  const std::string& body_plain = with_parents.empty() ? plain : with_parents;
  const SpaceKey* key = nullptr;
  if (kind == pb::CHANGE_CONTENT) {
    URBIS_ASSIGN_OR_RETURN(key, content_key(space));
  }
  pb::Header h = own_header(space, me, kind, tick_hlc(), kind == pb::CHANGE_MEMBERSHIP && !space.id ? 1 : space.epoch);
  return log_own_change(space, me, std::move(h), body_plain, key, body, /*materialized=*/false);
}

Result<CommitInfo> Replica::Impl::log_own_change(const SpaceRow& space, const AuthorRow& me, pb::Header h,
                                                 const std::string& plain, const SpaceKey* key, const pb::Body* body,
                                                 bool materialized) {
  URBIS_ASSIGN_OR_RETURN(SealedEnvelope sealed, seal_envelope(h, view(plain), key, *identity_));
  const std::string& raw = sealed.raw;

  ParsedChange p;
  p.raw = view(raw);
  p.envelope = std::move(sealed.envelope);
  p.header = std::move(h);
  p.space = space.sid;
  p.author = identity_->device();
  p.hash = blake2b_256(p.raw);
  // A content change is applied with the rows read above (a membership
  // change reads them again: what it changes is judged by the resolver).
  const bool known = p.header.kind() == pb::CHANGE_CONTENT && space.id && me.id;
  URBIS_ASSIGN_OR_RETURN(
      ApplyOutcome outcome,
      apply_parsed(p, body, known ? std::make_pair(&space, &me) : std::pair<const SpaceRow*, const AuthorRow*>{},
                   materialized));
  if (outcome != ApplyOutcome::Applied) return Status(Code::Internal, "own change not applied");
  CommitInfo info;
  info.seq = p.header.seq();
  info.hash = p.hash;
  info.envelope.assign(raw.begin(), raw.end());
  return info;
}

// ---------------------------------------------------------------- remote apply

Result<ParsedChange> Replica::Impl::parse(ByteView raw) const {
  if (raw.size() > options_.max_change_bytes)
    return Status(Code::TooLarge, "change of " + std::to_string(raw.size()) + " bytes exceeds " +
                                      std::to_string(options_.max_change_bytes));
  ParsedChange p;
  p.raw = raw;
  // Canonical bytes only: the envelope's hash chains the author's log, and the
  // signature covers header and body alone, so a relay that could re-encode an
  // envelope (add a field, repeat one, reorder them) would fork the author's
  // chain on the replicas it feeds.
  URBIS_ASSIGN_OR_RETURN(ParsedEnvelope e, parse_envelope(raw, EnvelopeEncoding::Canonical));
  p.envelope = std::move(e.envelope);
  p.header = std::move(e.header);
  p.space = e.space;
  p.author = e.author;
  const auto& h = p.header;
  if (h.seq() < 1 || h.seq() > kMaxSeq) return malformed("seq out of range");
  // SQLite integers are signed: an HLC from 2^63 on would be stored negative
  // and break max(hlc) and newest-first order.
  if (h.hlc() > static_cast<uint64_t>(INT64_MAX)) return malformed("hlc out of range (>= 2^63)");
  if (h.seq() == 1 ? !h.prev_hash().empty() : h.prev_hash().size() != Hash::kSize)
    return malformed("prev_hash must be empty at seq 1 and 32 bytes after");
  if (h.kind() != pb::CHANGE_CONTENT && h.kind() != pb::CHANGE_MEMBERSHIP) return malformed("unknown change kind");
  if (h.kind() == pb::CHANGE_CONTENT &&
      (h.nonce().size() != crypto_aead_xchacha20poly1305_ietf_NPUBBYTES || h.epoch() < 1))
    return malformed("content change needs a 24-byte nonce and an epoch");
  if (p.envelope.signature().size() != crypto_sign_BYTES) return malformed("signature must be 64 bytes");
  if (p.envelope.has_receipt() && (h.kind() != pb::CHANGE_MEMBERSHIP || h.seq() != 1))
    return malformed("only an invite's redeem carries a receipt");
  p.hash = blake2b_256(raw);
  return p;
}

bool Replica::Impl::signature_ok(const ParsedChange& p) { return envelope_signature_ok(p.envelope, p.author); }

Result<ApplyOutcome> Replica::Impl::apply_one(ByteView raw, bool release) {
  URBIS_ASSIGN_OR_RETURN(ParsedChange p, parse(raw));
  return apply_verified(p, /*endorsed=*/false, release);
}

Result<ApplyOutcome> Replica::Impl::apply_verified(const ParsedChange& p, bool endorsed, bool release) {
  if (!endorsed && !signature_ok(p))
    return Status(Code::BadSignature,
                  "change " + std::to_string(p.header.seq()) + " by " + p.author.hex().substr(0, 16));
  // Before anything is stored or held: a change from the future is refused
  // (the header is plaintext, so a key-less node judges it too).
  URBIS_RETURN_IF_ERROR(check_clock(p.header));
  URBIS_ASSIGN_OR_RETURN(ApplyOutcome outcome, apply_parsed(p, nullptr));
  if (release && outcome == ApplyOutcome::Applied && held_maybe_) {
    run_.drop();  // releasing writes what the run keeps
    // Outside any savepoint: a failure here (the store's) fails the batch.
    Status released = [&]() -> Status {
      URBIS_ASSIGN_OR_RETURN(SpaceRow space, find_space(p.space));
      return release_held(space.id, p.author, p.header.seq() + 1);
    }();
    run_.drop();
    if (!released.is_ok()) {
      if (whole_tx_ && !tx_broken_) tx_broken_ = released;
      return released;
    }
  }
  return outcome;
}

Result<ApplyOutcome> Replica::Impl::apply_parsed(const ParsedChange& p, const pb::Body* plain,
                                                 const std::pair<const SpaceRow*, const AuthorRow*>& known,
                                                 bool materialized) {
  const pb::Header& h = p.header;
  const bool membership = h.kind() == pb::CHANGE_MEMBERSHIP;
  // Inside apply_batch or commit_all, once SQLite has ended their
  // transaction (a full disk, an I/O error), nothing more is written: a
  // savepoint would begin a transaction of its own and commit this change
  // alone.
  if (whole_tx_ && !db_->in_transaction()) {
    if (!tx_broken_) tx_broken_ = Status(Code::Storage, "the store ended the transaction this change was applied in");
    return *tx_broken_;
  }
  // What this change reads of the run before it (ApplyRun), and whether it
  // leaves the run kept for the next one: only when applied in full as
  // content.
  bool keep_run = false;
  struct DropRun {
    ApplyRun& run;
    const bool& keep;
    ~DropRun() {
      if (!keep) run.drop();
    }
  } drop_run{run_, keep_run};
  const bool from_run = run_.active && run_.space.id && run_.space.sid == p.space && !membership;
  SpaceRow space;
  if (known.first) {
    space = *known.first;
  } else if (from_run) {
    space = run_.space;
  } else {
    auto found = find_space(p.space);
    if (found) {
      space = found.value();
    } else if (found.code() != Code::UnknownSpace) {
      return found.status();
    } else if (!(membership && h.seq() == 1)) {
      return found.status();
    } else {
      space.sid = p.space;  // a genesis change: the space is created below
    }
  }
  AuthorRow author;
  if (known.second) {
    author = *known.second;
  } else if (from_run && run_.author.id && run_.author.pk == p.author) {
    author = run_.author;
  } else if (space.id) {
    URBIS_ASSIGN_OR_RETURN(author, find_author(space.id, p.author));
  }

  // Chain: duplicate, fork, gap, or the next link.
  if (h.seq() <= author.head_seq) {
    {
      Stmt s = db_->prepare("SELECT hash FROM changes WHERE author=? AND seq=?");
      s.bind(1, author.id).bind(2, h.seq());
      if (s.step() && s.id<Hash>(0) == p.hash) return ApplyOutcome::Duplicate;
      URBIS_RETURN_IF_ERROR(s.status());
    }
    // Below a pin this replica has not reached, the change held here may be
    // the fork: it is when the arriving one is proven on the pinned chain.
    if (author.pinned() && author.head_seq < author.cutoff_seq) {
      URBIS_ASSIGN_OR_RETURN(bool pinned_chain, on_pinned_chain(space.id, author, p));
      if (pinned_chain) return reset_to_pin(space, author, p);
    }
    return Status(Code::BrokenChain,
                  "a different change already holds seq " + std::to_string(h.seq()) + " of this author");
  }
  // A removed writer's chain is pinned at its cutoff (Cutoff.hash): the one
  // change the cutoff seq may hold is the admin's.
  const bool at_pin = author.pinned() && h.seq() == author.cutoff_seq;
  if (at_pin && !author.is_pinned_hash(p.hash))
    return Status(Code::BrokenChain, "change " + std::to_string(h.seq()) + " of removed writer " +
                                         p.author.hex().substr(0, 16) + " is not the one its cutoff pins (a fork)");
  if (h.seq() > author.head_seq + 1) {
    if (!space.id) return Status(Code::UnknownSpace, p.space.hex());
    // Held under a savepoint: a failure to park it keeps nothing of it.
    URBIS_RETURN_IF_ERROR(db_->prepare("SAVEPOINT hold").run());
    auto held = hold(space, author, p);
    if (!held.is_ok()) (void)db_->prepare("ROLLBACK TO hold").run();
    (void)db_->prepare("RELEASE hold").run();
    return held;
  }
  if (h.seq() > 1 && Hash::from_string(h.prev_hash()) != author.head_hash) {
    // The pinned change does not follow what is held here: the changes
    // below it held here are a fork (taken before the pin was known, or
    // unverified below it). They go, and the pinned change waits for its
    // real predecessors, fetched again like any missing change.
    if (author.pinned() && h.seq() <= author.cutoff_seq) {
      URBIS_ASSIGN_OR_RETURN(bool pinned_chain, on_pinned_chain(space.id, author, p));
      if (pinned_chain) return reset_to_pin(space, author, p);
    }
    return Status(Code::BrokenChain, "prev_hash does not match the author's change " + std::to_string(author.head_seq));
  }

  // Membership and epoch. An invite key may author its redeem and nothing
  // else; a membership body is parsed only once its author may write one
  // (an admin, an invite's redeem, or a space's genesis), and only after its
  // entries were counted on the wire.
  pb::Membership m;
  std::optional<pb::Body> decrypted;
  bool dark = false;  // content no key held here opens
  const bool genesis = !space.id;
  const bool redeem = membership && author.invite_expires != 0;
  if (p.envelope.has_receipt() && !redeem) return malformed("only an invite's redeem carries a receipt");
  if (author.invite_expires != 0 && !membership) return Status(Code::NotAMember, "an invite key may not write content");
  if (!genesis && !(from_run && run_.epoch == h.epoch())) {
    Stmt s = db_->prepare("SELECT 1 FROM epochs WHERE space=? AND epoch=?");
    s.bind(1, space.id).bind(2, h.epoch());
    if (!s.step()) return Status(Code::UnknownEpoch, "epoch " + std::to_string(h.epoch()));
  }
  if (membership) {
    // Judged by the author's role for this change as resolved from the
    // membership changes held here (docs/membership.md): a change refused
    // now is taken when it is sent again after what makes it count.
    if (redeem && h.seq() != 1) return Status(Code::NotAMember, "an invite key authors one change, its redeem");
    URBIS_RETURN_IF_ERROR(check_membership_size(p.envelope.body()));
    // A key share (grants alone) may come from any member: it passes on keys
    // its author holds to members who lack them (heal). Anything else is an
    // admin's; its body is parsed once its author is known to be one.
    if (!genesis && !redeem && !is_key_share(p.envelope.body()))
      URBIS_RETURN_IF_ERROR(check_author(author, h.seq(), /*membership=*/true));
    if (!m.ParseFromString(p.envelope.body())) return malformed("membership body does not parse");
    if (!genesis && !redeem && is_key_share(p.envelope.body()))
      URBIS_RETURN_IF_ERROR(check_author(author, h.seq(), /*membership=*/false));
    URBIS_RETURN_IF_ERROR(check_membership_shape(space, p, m, genesis, redeem));
    if (redeem) {
      URBIS_RETURN_IF_ERROR(check_redeem(space, author, p, m, /*local=*/false));
      // It follows the change that made its invite: dated after it, so the
      // replay order (HLC) is an order of the graph.
      URBIS_ASSIGN_OR_RETURN(MembershipResolver * r, resolver(space));
      if (auto made = r->invite_made_at(p.author); made && *made >= h.hlc())
        return malformed("a redeem is dated before the change that made its invite");
    }
  } else {
    URBIS_RETURN_IF_ERROR(check_author(author, h.seq(), /*membership=*/false));
    if (!plain && options_.materialize) {
      // A body no key of its epoch held here opens, or one that opens but is
      // not a Body, is stored without effect (rebuild_space skips it the
      // same way): members cannot use it, but refusing it would stop its
      // author's chain on every member while the key-less node, which cannot
      // judge it, keeps serving it. A key that arrives later (a grant for
      // that epoch) rebuilds the space and judges it again.
      dark = true;  // until a key opens it (dark_epochs)
      if (const auto* keys = keys_for(space.id, h.epoch())) {
        for (const auto& key : *keys) {
          auto clear = open_envelope_body(p.envelope, h, key);
          if (!clear) continue;
          dark = false;
          decrypted.emplace();
          if (!decrypted->ParseFromArray(clear->data(), static_cast<int>(clear->size()))) decrypted.reset();
          break;
        }
        if (decrypted) plain = &*decrypted;
      }
    }
  }

  // Store and materialize, atomically with respect to this change: by a
  // savepoint, or, for a content change inside apply_batch or commit_all,
  // by their transaction (WholeTx).
  const bool batch_atomic =
      whole_tx_ && db_->in_transaction() && !membership && author.id != 0 && author.id < kMaxAuthorRows;
  if (!batch_atomic) URBIS_RETURN_IF_ERROR(db_->prepare("SAVEPOINT apply").run());
  bool needs_rebuild = false;
  Status st = [&]() -> Status {
    if (membership) URBIS_RETURN_IF_ERROR(apply_membership(space, p, m, redeem, &needs_rebuild));
    if (!author.id) {
      URBIS_ASSIGN_OR_RETURN(author, member_row(space.id, p.author));
    }
    Stmt s = db_->prepare(
        "INSERT INTO changes(author, seq, kind, epoch, hlc, hash, envelope, space) "
        "VALUES(?,?,?,?,?,?,?,?)");
    URBIS_RETURN_IF_ERROR(s.bind(1, author.id)
                              .bind(2, h.seq())
                              .bind(3, static_cast<int>(h.kind()))
                              .bind(4, h.epoch())
                              .bind(5, h.hlc())
                              .bind(6, p.hash.view())
                              .bind(7, p.raw)
                              .bind(8, space.id)
                              .run());
    if (dark) {
      Stmt d = db_->prepare("INSERT OR IGNORE INTO dark_epochs(space, epoch) VALUES(?,?)");
      URBIS_RETURN_IF_ERROR(d.bind(1, space.id).bind(2, h.epoch()).run());
    }
    Stmt u = db_->prepare("UPDATE authors SET head_seq=?, head_hash=?, newest_hlc=max(newest_hlc, ?) WHERE id=?");
    URBIS_RETURN_IF_ERROR(u.bind(1, h.seq()).bind(2, p.hash.view()).bind(3, h.hlc()).bind(4, author.id).run());
    if (author.head_seq == 0) {
      // Its first change here: authors_writing's flag, set once, by its own
      // statement (schema.cc, v8).
      Stmt w = db_->prepare("UPDATE authors SET wrote=1 WHERE id=? AND NOT wrote");
      URBIS_RETURN_IF_ERROR(w.bind(1, author.id).run());
    }
    // Held changes at or below the new head can never apply (the same
    // change, or a fork of it).
    if (held_maybe_) URBIS_RETURN_IF_ERROR(drop_held(space.id, p.author, 1, h.seq()));
    if (plain && options_.materialize && !materialized) {
      // Op keys pack the author row (schema.h): the one place a store-wide
      // bound on author rows applies.
      if (author.id >= kMaxAuthorRows)
        return Status(Code::TooLarge, "this store holds too many authors to materialize their ops");
      URBIS_RETURN_IF_ERROR(materialize(space, author, h.seq(), h.hlc(), h.epoch(), *plain));
      if (!defer_refresh_) URBIS_RETURN_IF_ERROR(flush_dirty());
      if (retyped_) needs_rebuild = true;  // an entity's type crossed `comment`
      retyped_ = false;
    }
    if (needs_rebuild && options_.materialize) URBIS_RETURN_IF_ERROR(rebuild_space(space));
    return Status::ok();
  }();
  if (!st.is_ok() && batch_atomic) {
    retyped_ = false;
    if (!tx_broken_) tx_broken_ = st;
    return st;
  }
  if (!st.is_ok()) {
    if (!defer_refresh_) dirty_.clear();
    retyped_ = false;
    (void)db_->prepare("ROLLBACK TO apply").run();
    (void)db_->prepare("RELEASE apply").run();
    // Keys unsealed from a refused membership change must not linger, nor
    // what the resolver counted of it; a content change's rollback can only
    // have given back an author row's id.
    if (membership)
      reread_after_rollback();
    else
      author_keys_.clear();
    return st;
  }
  if (!batch_atomic) URBIS_RETURN_IF_ERROR(db_->prepare("RELEASE apply").run());
  observe_hlc(h.hlc());
  if (run_.active && !membership && !needs_rebuild && author.id) {
    run_.space = std::move(space);
    author.head_seq = h.seq();
    author.head_hash = p.hash;
    run_.author = std::move(author);
    run_.epoch = h.epoch();
    keep_run = true;
  }
  return ApplyOutcome::Applied;
}

Result<bool> Replica::Impl::reset_chain(int64_t space, AuthorRow& a, uint64_t fork_at_or_below, uint64_t drop_held_to) {
  // Dropping a membership change from the log does not undo what it did
  // (membership is applied change by change, not rebuilt from the log), and
  // fetching it again would apply it twice: the author's chain is kept up
  // to its last membership change, and a fork below that cannot be undone.
  uint64_t keep = 0;
  {
    Stmt s = db_->prepare("SELECT coalesce(max(seq), 0) FROM changes WHERE author=? AND kind=?");
    s.bind(1, a.id).bind(2, static_cast<int>(pb::CHANGE_MEMBERSHIP));
    if (s.step()) keep = static_cast<uint64_t>(s.i64(0));
    URBIS_RETURN_IF_ERROR(s.status());
  }
  if (keep >= fork_at_or_below) return false;
  Hash keep_hash;
  if (keep) {
    Stmt s = db_->prepare("SELECT hash FROM changes WHERE author=? AND seq=?");
    s.bind(1, a.id).bind(2, keep);
    if (!s.step()) return s.status().is_ok() ? Status(Code::Internal, "chain has a gap") : s.status();
    keep_hash = s.id<Hash>(0);
  }
  Stmt d = db_->prepare("DELETE FROM changes WHERE author=? AND seq>?");
  URBIS_RETURN_IF_ERROR(d.bind(1, a.id).bind(2, keep).run());
  Stmt u = keep ? db_->prepare("UPDATE authors SET head_seq=?, head_hash=? WHERE id=?")
                : db_->prepare("UPDATE authors SET head_seq=?, head_hash=NULL WHERE id=?");
  u.bind(1, keep);
  if (keep)
    u.bind(2, keep_hash.view()).bind(3, a.id);
  else
    u.bind(2, a.id);
  URBIS_RETURN_IF_ERROR(u.run());
  if (held_maybe_) URBIS_RETURN_IF_ERROR(drop_held(space, a.pk, 1, drop_held_to));
  a.head_seq = keep;
  a.head_hash = keep_hash;
  return true;
}

Result<bool> Replica::Impl::on_pinned_chain(int64_t space, const AuthorRow& a, const ParsedChange& p) {
  if (p.header.seq() == a.cutoff_seq) return a.is_pinned_hash(p.hash);
  // Up the held changes to the pinned one: each must name the one below as
  // its predecessor. At most the author's held allowance is read.
  Hash below = p.hash;
  for (uint64_t seq = p.header.seq() + 1; seq <= a.cutoff_seq; ++seq) {
    Stmt s = db_->prepare("SELECT envelope FROM held WHERE space=? AND author=? AND seq=?");
    s.bind(1, space).bind(2, a.pk.view()).bind(3, seq);
    if (!s.step()) {
      URBIS_RETURN_IF_ERROR(s.status());
      return false;
    }
    const Bytes raw = s.bytes(0);
    auto e = parse_envelope(raw, EnvelopeEncoding::Any);
    if (!e.is_ok() || Hash::from_string(e->header.prev_hash()) != below) return false;
    below = blake2b_256(raw);
  }
  return a.is_pinned_hash(below);
}

Result<ApplyOutcome> Replica::Impl::reset_to_pin(SpaceRow& space, AuthorRow author, const ParsedChange& p) {
  // All or nothing: if the pinned change cannot be held (the space's held
  // allowance is full), the fork stays until it is sent again.
  URBIS_RETURN_IF_ERROR(db_->exec("SAVEPOINT pin"));
  Result<ApplyOutcome> out = [&]() -> Result<ApplyOutcome> {
    // Held changes above `p` were proven its successors (on_pinned_chain):
    // they stay.
    const uint64_t seq = p.header.seq();
    URBIS_ASSIGN_OR_RETURN(bool reset, reset_chain(space.id, author, seq, seq));
    if (!reset || (author.head_seq + 1 == seq && Hash::from_string(p.header.prev_hash()) != author.head_hash))
      return Status(Code::BrokenChain,
                    "the removed writer's chain held here forks at or below its membership "
                    "change " +
                        std::to_string(author.head_seq) + ", which cannot be undone");
    URBIS_ASSIGN_OR_RETURN(ApplyOutcome held, hold(space, author, p));
    if (options_.materialize) URBIS_RETURN_IF_ERROR(rebuild_space(space));
    return held;
  }();
  if (!out.is_ok()) {
    if (!defer_refresh_) dirty_.clear();
    (void)db_->exec("ROLLBACK TO pin");
    (void)db_->exec("RELEASE pin");
    author_keys_.clear();
    return out.status();
  }
  URBIS_RETURN_IF_ERROR(db_->exec("RELEASE pin"));
  return out;
}

bool Replica::Impl::is_key_share(const std::string& body) {
  // On the wire, without parsing: grants (and parents) only.
  using google::protobuf::internal::WireFormatLite;
  google::protobuf::io::CodedInputStream in(reinterpret_cast<const uint8_t*>(body.data()),
                                            static_cast<int>(body.size()));
  bool grants = false;
  for (uint32_t tag; (tag = in.ReadTag()) != 0;) {
    const int field = WireFormatLite::GetTagFieldNumber(tag);
    if (field == pb::Membership::kGrantsFieldNumber)
      grants = true;
    else if (field != pb::Membership::kParentsFieldNumber)
      return false;
    if (!WireFormatLite::SkipField(&in, tag)) return false;
  }
  return grants;
}

Status Replica::Impl::check_membership_size(const std::string& body) const {
  // Counted on the wire, before anything is allocated for the entries:
  // parsing 16 MiB of empty entries would make millions of messages.
  using google::protobuf::internal::WireFormatLite;
  google::protobuf::io::CodedInputStream in(reinterpret_cast<const uint8_t*>(body.data()),
                                            static_cast<int>(body.size()));
  size_t updates = 0, grants = 0, cutoffs = 0;
  for (uint32_t tag; (tag = in.ReadTag()) != 0;) {
    switch (WireFormatLite::GetTagFieldNumber(tag)) {
      case pb::Membership::kUpdatesFieldNumber: ++updates; break;
      case pb::Membership::kGrantsFieldNumber: ++grants; break;
      case pb::Membership::kCutoffsFieldNumber: ++cutoffs; break;
      default: break;
    }
    if (updates > options_.max_member_updates || cutoffs > options_.max_member_updates)
      return Status(Code::TooLarge, "a membership change may carry at most " +
                                        std::to_string(options_.max_member_updates) + " role updates and cutoffs");
    if (grants > options_.max_key_grants)
      return Status(Code::TooLarge,
                    "a membership change may carry at most " + std::to_string(options_.max_key_grants) + " key grants");
    if (!WireFormatLite::SkipField(&in, tag)) return malformed("membership body does not parse");
  }
  return Status::ok();
}

Result<ApplyOutcome> Replica::Impl::hold(const SpaceRow& space, const AuthorRow& author, const ParsedChange& p) {
  const pb::Header& h = p.header;
  const bool membership = h.kind() == pb::CHANGE_MEMBERSHIP;
  // Only an author who may write this change may park it until its
  // predecessors arrive (the check apply makes, made early): else any key
  // could fill the held table.
  // Only a change that would count now may park (held changes are no part
  // of the log: one refused here is sent again after its predecessors).
  if (author.invite_expires != 0) return Status(Code::NotAMember, "an invite key authors one change, its redeem");
  {
    URBIS_ASSIGN_OR_RETURN(RoleAt r, role_at(author, h.seq()));
    if (membership ? r.role != Role::Admin : !can_write(r.role))
      return Status(Code::NotAMember, "author " + p.author.hex().substr(0, 16) + " may not write change " +
                                          std::to_string(h.seq()) + " (held for a missing predecessor) here");
  }
  {
    bool taken = false, same = false;
    {
      Stmt s = db_->prepare("SELECT envelope FROM held WHERE space=? AND author=? AND seq=?");
      s.bind(1, space.id).bind(2, p.author.view()).bind(3, h.seq());
      if (s.step()) {
        taken = true;
        same = blake2b_256(s.blob(0)) == p.hash;
      }
      URBIS_RETURN_IF_ERROR(s.status());
    }
    if (taken) {
      // This seq is held already: the first one stays, unless the author's
      // chain is pinned and this one is proven on the pinned chain by the
      // held changes above it (then the one held is a fork).
      if (same || !author.pinned() || h.seq() >= author.cutoff_seq) return ApplyOutcome::Held;
      URBIS_ASSIGN_OR_RETURN(bool pinned_chain, on_pinned_chain(space.id, author, p));
      if (!pinned_chain) return ApplyOutcome::Held;
      URBIS_RETURN_IF_ERROR(drop_held(space.id, p.author, h.seq(), h.seq()));
    }
  }
  // The allowances, from running totals (held_usage), never by counting.
  uint64_t author_bytes = 0, space_rows = 0, space_bytes = 0;
  {
    Stmt s = db_->prepare("SELECT held_bytes FROM held_usage WHERE space=? AND author=?");
    s.bind(1, space.id).bind(2, p.author.view());
    if (s.step()) author_bytes = static_cast<uint64_t>(s.i64(0));
    URBIS_RETURN_IF_ERROR(s.status());
    Stmt t = db_->prepare("SELECT held_rows, held_bytes FROM held_usage WHERE space=? AND author=x''");
    t.bind(1, space.id);
    if (t.step()) {
      space_rows = static_cast<uint64_t>(t.i64(0));
      space_bytes = static_cast<uint64_t>(t.i64(1));
    }
    URBIS_RETURN_IF_ERROR(t.status());
  }
  const uint64_t size = p.raw.size();
  if (author_bytes + size > options_.max_held_bytes_per_author)
    return Status(Code::TooLarge, "author " + p.author.hex().substr(0, 16) + " already has " +
                                      std::to_string(author_bytes) +
                                      " bytes of changes held for missing predecessors here; send those first");
  if (space_rows >= options_.max_held_changes || space_bytes + size > options_.max_held_bytes_per_space)
    return Status(Code::TooLarge, "too many changes held for missing predecessors in this space");
  Stmt s = db_->prepare("INSERT INTO held(space, author, seq, envelope) VALUES(?,?,?,?)");
  URBIS_RETURN_IF_ERROR(s.bind(1, space.id).bind(2, p.author.view()).bind(3, h.seq()).bind(4, p.raw).run());
  URBIS_RETURN_IF_ERROR(add_held_usage(space.id, p.author, 1, static_cast<int64_t>(size)));
  held_maybe_ = true;
  return ApplyOutcome::Held;
}

Status Replica::Impl::add_held_usage(int64_t space, const DeviceKey& author, int64_t rows, int64_t bytes) {
  static const char* kAdd[] = {
      "INSERT INTO held_usage(space, author, held_rows, held_bytes) VALUES(?1, ?2, ?3, ?4) "
      "ON CONFLICT(space, author) DO UPDATE SET held_rows=held_rows+?3, held_bytes=held_bytes+?4",
      "INSERT INTO held_usage(space, author, held_rows, held_bytes) VALUES(?1, x'', ?3, ?4) "
      "ON CONFLICT(space, author) DO UPDATE SET held_rows=held_rows+?3, held_bytes=held_bytes+?4",
  };
  for (const char* sql : kAdd)
    URBIS_RETURN_IF_ERROR(db_->prepare(sql).bind(1, space).bind(2, author.view()).bind(3, rows).bind(4, bytes).run());
  if (rows < 0) {
    Stmt d = db_->prepare("DELETE FROM held_usage WHERE space=? AND author IN (?, x'') AND held_rows<=0");
    URBIS_RETURN_IF_ERROR(d.bind(1, space).bind(2, author.view()).run());
  }
  return Status::ok();
}

Status Replica::Impl::drop_held(int64_t space, const DeviceKey& author, uint64_t from_seq, uint64_t to_seq) {
  int64_t rows = 0, bytes = 0;
  {
    Stmt s = db_->prepare(
        "SELECT count(*), coalesce(sum(length(envelope)), 0) FROM held "
        "WHERE space=? AND author=? AND seq BETWEEN ? AND ?");
    s.bind(1, space).bind(2, author.view()).bind(3, from_seq).bind(4, to_seq);
    if (s.step()) {
      rows = s.i64(0);
      bytes = s.i64(1);
    }
    URBIS_RETURN_IF_ERROR(s.status());
  }
  if (rows == 0) return Status::ok();
  Stmt d = db_->prepare("DELETE FROM held WHERE space=? AND author=? AND seq BETWEEN ? AND ?");
  URBIS_RETURN_IF_ERROR(d.bind(1, space).bind(2, author.view()).bind(3, from_seq).bind(4, to_seq).run());
  return add_held_usage(space, author, -rows, -bytes);
}

Status Replica::Impl::release_held(int64_t space, const DeviceKey& author, uint64_t next_seq) {
  if (!held_maybe_) return Status::ok();
  // Successors that were waiting for this change apply now, one after the
  // other (iteratively: a held chain can be long).
  for (;; ++next_seq) {
    Bytes raw;
    {
      Stmt s = db_->prepare("SELECT envelope FROM held WHERE space=? AND author=? AND seq=?");
      s.bind(1, space).bind(2, author.view()).bind(3, next_seq);
      if (!s.step()) return s.status();
      raw = s.bytes(0);
    }
    URBIS_RETURN_IF_ERROR(drop_held(space, author, next_seq, next_seq));
    // A held change that now fails (say its author lost the role) is dropped:
    // it was never reported applied. Its successors stay held.
    auto r = apply_one(raw, /*release=*/false);
    if (!r.is_ok() || r.value() != ApplyOutcome::Applied) return Status::ok();
  }
}

Status Replica::Impl::check_redeem(const SpaceRow& space, const AuthorRow& invite, const ParsedChange& p,
                                   const pb::Membership& m, bool local) {
  const pb::Header& h = p.header;
  auto forbidden = [](std::string what) { return Status(Code::Forbidden, "redeem: " + what); };
  // Whether the invite was still live (not used, not revoked, its admin
  // still one) is the resolver's to judge, identically everywhere; here, what
  // the change itself must be.
  if (h.seq() != 1)
    return Status(Code::NotAMember, "invite " + invite.pk.hex().substr(0, 16) + " has already been used");
  if (!m.genesis_salt().empty() || m.new_epoch() != 0 || m.cutoffs_size() != 0)
    return forbidden("may not start an epoch, carry cutoffs or a genesis salt");
  // (a) the invite sets itself to none, (b) adds exactly one other device.
  const pb::MemberUpdate* self = nullptr;
  const pb::MemberUpdate* joiner = nullptr;
  for (const auto& u : m.updates()) (u.device() == h.author() ? self : joiner) = &u;
  if (m.updates_size() != 2 || !self || !joiner)
    return forbidden("must set exactly two roles: the invite's own, to none, and one device's");
  if (self->role() != pb::ROLE_NONE) return forbidden("must set the invite's own role to none");
  if (self->invite_expires_ms() != 0 || joiner->invite_expires_ms() != 0) return forbidden("may not create invites");
  auto device = DeviceKey::from_string(joiner->device());
  if (!device) return malformed("member device must be 32 bytes");
  if (joiner->role() <= pb::ROLE_NONE || joiner->role() > static_cast<int>(invite.invite_role))
    return forbidden("may give the invite's role (" + std::string(role_name(invite.invite_role)) +
                     ") or a lower one, not role " + std::to_string(joiner->role()));
  if (joiner->scope_size() != 0) return forbidden("takes the invite's scope, and names none");
  URBIS_ASSIGN_OR_RETURN(AuthorRow target, find_author(space.id, *device));
  if (target.invite_expires != 0) return forbidden("an invite key cannot join as a device");
  if (local && target.role != Role::None)
    return forbidden("device " + device->hex().substr(0, 16) + " is already a member");
  // (c) keys for the joining device only.
  for (const auto& g : m.grants())
    if (g.device() != joiner->device()) return forbidden("may grant keys to the joining device only");
  // (d) not after the expiry, by the clock of a witness the admin named: the
  // receipt's time, which the redeemer cannot choose, and which every
  // replica reads the same whenever the redeem reaches it.
  if (!invite.invite_witnesses.empty()) {
    if (local) return Status::ok();  // the witness adds the receipt
    if (!p.envelope.has_receipt())
      return forbidden("carries no receipt: redeem the invite through the node it names (" +
                       DeviceKey::from_bytes(ByteView(invite.invite_witnesses).first(32))->hex().substr(0, 16) + "…)");
    const pb::Receipt& rc = p.envelope.receipt();
    auto witness = DeviceKey::from_string(rc.witness());
    if (!witness || !invite.witnessed_by(*witness)) return forbidden("the receipt is not by a node the invite names");
    if (rc.signature().size() != crypto_sign_BYTES ||
        !verify_signature(view(rc.signature()),
                          receipt_message(view(p.envelope.header()), view(p.envelope.body()),
                                          view(p.envelope.signature()), rc.time_ms()),
                          *witness))
      return Status(Code::BadSignature, "redeem: the witness's receipt does not verify");
    if (rc.time_ms() > invite.invite_expires)
      return Status(Code::Expired, "the invite expired at " + utc_time_text(invite.invite_expires) +
                                       "; its witness received the redeem at " + utc_time_text(rc.time_ms()));
    return Status::ok();
  }
  // A legacy invite (made before witnesses): by the redeem's own clock, and
  // with no receipt. Nothing would check one here, so a relay could add any
  // receipt and give replicas two encodings of the one change (a fork of the
  // invite's chain, and junk stored in every log).
  if (p.envelope.has_receipt()) return malformed("a redeem of an invite naming no witness carries no receipt");
  const uint64_t at_ms = h.hlc() >> 16;
  if (at_ms > invite.invite_expires)
    return Status(Code::Expired, "the invite expired at " + utc_time_text(invite.invite_expires) +
                                     "; the redeem is dated " + utc_time_text(at_ms));
  return Status::ok();
}

Status Replica::Impl::check_author(const AuthorRow& a, uint64_t seq, bool membership) {
  auto refuse = [&](const std::string& why) {
    return Status(Code::NotAMember,
                  "author " + a.pk.hex().substr(0, 16) + " " + why + " (change " + std::to_string(seq) + ")");
  };
  if (!a.id) return refuse("is not a member of this space");
  URBIS_ASSIGN_OR_RETURN(RoleAt r, role_at(a, seq));
  if (membership ? r.role == Role::Admin : can_write(r.role)) return Status::ok();
  // It does not count now. It is stored all the same when its author was
  // ever named a member: every replica must hold the same changes whatever
  // order they came in (a membership change that arrives later can make it
  // count, another may name it as a parent, and the author's chain goes on
  // after it), and the resolver and the content rules give it no effect
  // while it does not count. A bound keeps an author who lost its role from
  // filling stores: past its last pin, kMaxUncounted changes.
  // (For a membership change: named an admin once.)
  URBIS_ASSIGN_OR_RETURN(SpaceRow space, find_space_by_row(a.space));
  URBIS_ASSIGN_OR_RETURN(MembershipResolver * res, resolver(space));
  if (!res->ever_named(a.pk, membership ? Role::Admin : Role::Viewer))
    return refuse(membership ? "may not change membership" : "is not a member of this space");
  if (seq > a.cutoff_seq + kMaxUncounted) return refuse(membership ? "may not change membership" : "may not write");
  return Status::ok();
}

Status Replica::Impl::check_membership_shape(const SpaceRow& space, const ParsedChange& p, const pb::Membership& m,
                                             bool genesis, bool redeem) {
  const pb::Header& h = p.header;
  if (!m.key_id().empty() && m.key_id().size() != 16) return malformed("a key id is 16 bytes");
  if (m.parents_size() > kMaxParents)
    return malformed("a membership change names at most " + std::to_string(kMaxParents) + " parents");
  if ((genesis || redeem) && m.parents_size() != 0)
    return malformed("a space's first change and a redeem name no parents");
  for (const auto& u : m.updates()) {
    if (static_cast<size_t>(u.scope_size()) > kMaxScope)
      return malformed("a scope names at most " + std::to_string(kMaxScope) + " cities");
    for (const auto& c : u.scope())
      if (c.size() != EntityId::kSize) return malformed("a scope names 16-byte city ids");
    if (u.role() == pb::ROLE_NONE && u.scope_size() != 0) return malformed("a removal has no scope");
  }
  if (m.parents_size() == 0) return Status::ok();
  // Parents are membership changes held here, each older (by HLC): the
  // replay order is then an order of the graph. A parent not held here yet
  // comes first (the sender holds it: it applied it before this one).
  URBIS_ASSIGN_OR_RETURN(MembershipResolver * r, resolver(space));
  for (const auto& raw : m.parents()) {
    auto ph = Hash::from_string(raw);
    if (!ph) return malformed("a parent is a 32-byte change hash");
    auto hlc = r->hlc_of(*ph);
    if (!hlc)
      return Status(Code::NotFound, "membership change " + std::to_string(h.seq()) + " by " +
                                        p.author.hex().substr(0, 16) + " follows one not held here yet");
    if (*hlc >= h.hlc()) return malformed("a membership change is older than a change it follows");
  }
  return Status::ok();
}

Status Replica::Impl::apply_membership(SpaceRow& space, const ParsedChange& p, const pb::Membership& m, bool redeem,
                                       bool* needs_rebuild) {
  // What is stored here is what every replica stores of this change, whatever
  // else it holds: an invite's terms, pins, epochs and grants. Who counts as
  // what is the resolver's (resolve, at the end).
  const pb::Header& h = p.header;
  const bool genesis = !space.id;
  if (genesis) {
    if (derive_space_id(p.author, view(m.genesis_salt())) != p.space)
      return malformed("space id is not derived from its creator");
    bool creator_admin = false;
    for (const auto& u : m.updates()) creator_admin |= u.device() == h.author() && u.role() == pb::ROLE_ADMIN;
    if (m.new_epoch() != 1 || !creator_admin)
      return malformed("a space's first change must make its creator admin in epoch 1");
    Stmt s = db_->prepare("INSERT INTO spaces(sid) VALUES(?)");
    URBIS_RETURN_IF_ERROR(s.bind(1, p.space.view()).run());
    space.id = db_->last_insert_rowid();
  } else if (!m.genesis_salt().empty()) {
    return malformed("only a space's first change carries a genesis salt");
  }
  uint32_t newest = 0;
  {
    Stmt s = db_->prepare("SELECT coalesce(max(epoch), 0) FROM epochs WHERE space=?");
    s.bind(1, space.id);
    if (s.step()) newest = static_cast<uint32_t>(s.i64(0));
    URBIS_RETURN_IF_ERROR(s.status());
  }
  if (m.new_epoch()) {
    if (m.new_epoch() > newest + 1)
      return malformed("epoch " + std::to_string(m.new_epoch()) + " skips ahead of " + std::to_string(newest));
    Stmt s = db_->prepare("INSERT OR IGNORE INTO epochs(space, epoch, starts) VALUES(?, ?, 0)");
    URBIS_RETURN_IF_ERROR(s.bind(1, space.id).bind(2, m.new_epoch()).run());
    newest = std::max(newest, m.new_epoch());
  }
  for (const auto& c : m.cutoffs())
    if (c.seq() == 0 ? !c.hash().empty() : !(c.hash().empty() || c.hash().size() == Hash::kSize))
      return malformed("a cutoff's hash is empty at seq 0 and 32 bytes (or empty) after");
  for (const auto& u : m.updates()) {
    auto device = DeviceKey::from_string(u.device());
    if (!device) return malformed("member device must be 32 bytes");
    if (u.role() < pb::ROLE_NONE || u.role() > pb::ROLE_ADMIN) return malformed("unknown role");
    URBIS_ASSIGN_OR_RETURN(AuthorRow row, member_row(space.id, *device));
    if (u.invite_expires_ms() != 0) {
      if (u.role() == pb::ROLE_NONE) return malformed("an invite needs a role");
      if (u.invite_witnesses_size() > kMaxInviteWitnesses)
        return malformed("an invite names at most " + std::to_string(kMaxInviteWitnesses) + " witnesses");
      for (const auto& w : u.invite_witnesses())
        if (w.size() != 32) return malformed("a witness must be a 32-byte node key");
      // An invite is a key no one has used here. (Only a forging admin names
      // one that is: refused where it is known, ignored by the resolver
      // where it is not yet.)
      if (row.role != Role::None || row.head_seq != 0 || row.invite_expires != 0)
        return malformed("an invite key must be a fresh key");
      {
        row.invite_expires = u.invite_expires_ms();
        row.invite_role = static_cast<Role>(u.role());
        row.invite_witnesses.clear();
        for (const auto& w : u.invite_witnesses())
          row.invite_witnesses.insert(row.invite_witnesses.end(), w.begin(), w.end());
        URBIS_RETURN_IF_ERROR(save_membership(row));
      }
    } else if (u.invite_witnesses_size() != 0) {
      return malformed("only an invite names witnesses");
    }
    if (redeem || !can_write(row.role)) continue;
    // Changes it parked for a missing predecessor are judged again when
    // they are sent again, under the role they then have.
    if (held_maybe_ && static_cast<Role>(u.role()) < row.role)
      URBIS_RETURN_IF_ERROR(drop_held(space.id, *device, 1, kMaxSeq));
  }
  // Pins: the highest cutoff an admin recorded of a member's chain, with the
  // hash of that change as the admin held it. This replica's change at that
  // seq must be it; if not, the author forked its chain at or below it and
  // this replica took a fork the admin never saw. Where the two chains part
  // cannot be told from here (only the pinned change's own chain would say),
  // so every change of the author held here goes, and the pinned chain comes
  // again from any peer that holds it (version vectors: this replica now
  // lacks the author entirely).
  if (!redeem) {
    for (const auto& c : m.cutoffs()) {
      auto device = DeviceKey::from_string(c.device());
      if (!device) return malformed("a cutoff's device must be 32 bytes");
      if (c.hash().empty()) continue;
      URBIS_ASSIGN_OR_RETURN(AuthorRow row, member_row(space.id, *device));
      if (c.seq() <= row.cutoff_seq) continue;
      row.cutoff_seq = c.seq();
      row.cutoff_hash.assign(c.hash().begin(), c.hash().end());
      URBIS_RETURN_IF_ERROR(save_membership(row));
      if (row.head_seq < c.seq()) continue;
      bool same = false;
      {
        // (Scoped: the cached statement is used again by reset_chain.)
        Stmt q = db_->prepare("SELECT hash FROM changes WHERE author=? AND seq=?");
        q.bind(1, row.id).bind(2, c.seq());
        same = q.step() && row.is_pinned_hash(q.id<Hash>(0));
        URBIS_RETURN_IF_ERROR(q.status());
      }
      if (same) continue;
      if (c.device() == h.author()) return malformed("a cutoff of the change's own author must pin its own chain");
      URBIS_ASSIGN_OR_RETURN(bool reset, reset_chain(space.id, row, c.seq(), kMaxSeq));
      *needs_rebuild |= reset;
    }
  }
  // Grants: a key id names the key sealed by the grants of the epoch the
  // change starts (or, with no new epoch, of the newest epoch it grants).
  uint32_t named_epoch = m.new_epoch();
  if (!named_epoch && !m.key_id().empty())
    for (const auto& g : m.grants()) named_epoch = std::max(named_epoch, g.epoch());
  for (const auto& g : m.grants()) {
    auto device = DeviceKey::from_string(g.device());
    if (!device || g.epoch() < 1 || g.epoch() > newest) return malformed("key grant for an unknown epoch or device");
    if (!g.key_id().empty() && g.key_id().size() != 16) return malformed("a key id is 16 bytes");
    const std::string key_id = !g.key_id().empty() ? g.key_id() : g.epoch() == named_epoch ? m.key_id() : std::string();
    Stmt s = db_->prepare("INSERT OR IGNORE INTO grants(space, epoch, device, sealed, key_id) VALUES(?,?,?,?,?)");
    URBIS_RETURN_IF_ERROR(s.bind(1, space.id)
                              .bind(2, g.epoch())
                              .bind(3, device->view())
                              .bind(4, view(g.sealed_key()))
                              .bind(5, view(key_id))
                              .run());
    if (remember_grant(space.id, g.epoch(), *device, view(g.sealed_key()))) {
      // Content of that epoch stored before we could read it becomes readable.
      Stmt c = db_->prepare("SELECT 1 FROM dark_epochs WHERE space=? AND epoch=?");
      c.bind(1, space.id).bind(2, g.epoch());
      if (c.step()) *needs_rebuild = true;
    }
  }
  // The author's row exists (an admin, the invite key, or the creator named
  // above): the change joins the space's membership log and is resolved.
  if (genesis) URBIS_RETURN_IF_ERROR(member_row(space.id, p.author).status());
  auto c = member_change_of(p.author, h, m, p.hash, redeem);
  if (!c) return malformed("membership change does not parse");
  return resolve(space, std::move(*c), needs_rebuild);
}

// A change's header names the hash of its author's previous change, and the
// signature covers the header: a valid signature on the last change of a run
// (consecutive changes of one author, each naming the one before it by hash)
// proves that the author made every change of the run, byte for byte, since
// only the author could sign a header naming those exact bytes. So one
// Ed25519 verification serves the run. Each change still carries its own
// signature (a batch may end mid-run); where the last one does not verify,
// each change of the run is verified on its own and a bad one refused. A
// change is thus authentic when its own signature verifies or a change of
// its author that follows it in the same batch, authentic itself, names it:
// a function of the changes, which every replica judges alike (a replica
// given it without its successor refuses it, and takes it when a catch-up,
// which starts at the first change it lacks, brings both).
std::vector<bool> Replica::Impl::endorsed_by_run(const std::vector<Result<ParsedChange>>& parsed) {
  std::vector<bool> endorsed(parsed.size(), false);
  auto follows = [&](size_t next, size_t prev) {
    if (!parsed[next].is_ok() || !parsed[prev].is_ok()) return false;
    const ParsedChange &n = *parsed[next], &p = *parsed[prev];
    return n.space == p.space && n.author == p.author && n.header.seq() == p.header.seq() + 1 &&
           Hash::from_string(n.header.prev_hash()) == p.hash;
  };
  for (size_t first = 0; first < parsed.size();) {
    size_t last = first;
    while (last + 1 < parsed.size() && follows(last + 1, last)) ++last;
    if (last > first && signature_ok(*parsed[last]))
      std::fill(endorsed.begin() + static_cast<std::ptrdiff_t>(first),
                endorsed.begin() + static_cast<std::ptrdiff_t>(last) + 1, true);
    first = last + 1;
  }
  return endorsed;
}

std::vector<Result<ApplyOutcome>> Replica::Impl::apply_batch(const std::vector<ByteView>& envelopes) {
  std::vector<Result<ApplyOutcome>> out;
  out.reserve(envelopes.size());
  std::vector<Result<ParsedChange>> parsed;
  parsed.reserve(envelopes.size());
  for (const auto& e : envelopes) parsed.push_back(parse(e));
  DbTransaction tx(*db_);
  Status st = tx.begin();
  if (st.is_ok()) {
    {
      DeferRefresh defer(*this);
      // The pending change of each space the batch brings changes of is
      // sealed first, in this transaction (no other connection can stage in
      // between): a put staged after an applied change must be dated after
      // it, so it cannot join a change dated before.
      st = settle_staged(parsed);
      struct Run {
        ApplyRun& run;
        explicit Run(ApplyRun& r) : run(r) { run.active = true; }
        ~Run() {
          run.active = false;
          run.drop();
        }
      } keep_runs(run_);
      WholeTx whole(*this);
      const std::vector<bool> endorsed = endorsed_by_run(parsed);
      for (size_t i = 0; i < parsed.size() && !tx_broken_ && st.is_ok(); ++i) {
        out.push_back(parsed[i].is_ok() ? apply_verified(*parsed[i], endorsed[i], /*release=*/true)
                                        : Result<ApplyOutcome>(parsed[i].status()));
        // SQLite ends a transaction itself on some failures (a full disk, an
        // I/O error): what follows would be written outside it.
        if (!db_->in_transaction())
          tx_broken_ = out.back().is_ok() ? Status(Code::Storage, "the store ended the batch's transaction")
                                          : out.back().status();
      }
      if (tx_broken_) st = *tx_broken_;
      // A catch-up brings batch after batch, each touching many of the same
      // entities: those are refreshed once, at the next read. A small batch
      // (a live push) refreshes at once, as its reader is about to look.
      if (st.is_ok()) st = envelopes.size() >= kStaleBatch ? mark_stale() : flush_dirty();
    }
    if (st.is_ok()) st = tx.commit();
  }
  if (!st.is_ok()) {
    tx.rollback();  // before the keys are read again
    dirty_.clear();
    // Nothing was stored: every change reports the storage error.
    out.clear();
    for (size_t i = 0; i < envelopes.size(); ++i) out.push_back(st);
    // Keys unsealed from rolled-back grants must not linger (wiped, not
    // just dropped), nor what the resolvers counted.
    reread_after_rollback();
  }
  return out;
}

// ---------------------------------------------------------------- the log

Result<VersionVector> Replica::Impl::version_vector(const SpaceId& sid) {
  URBIS_ASSIGN_OR_RETURN(SpaceRow space, find_space(sid));
  Stmt s = db_->prepare("SELECT pk, head_seq FROM authors WHERE space=? AND wrote AND head_seq>0");
  s.bind(1, space.id);
  VersionVector vv;
  while (s.step()) vv[s.id<DeviceKey>(0)] = static_cast<uint64_t>(s.i64(1));
  URBIS_RETURN_IF_ERROR(s.status());
  return vv;
}

Result<std::vector<Bytes>> Replica::Impl::changes_since(const SpaceId& sid, const VersionVector& known,
                                                        size_t max_bytes) {
  URBIS_ASSIGN_OR_RETURN(SpaceRow space, find_space(sid));
  // What this device staged in the space goes out too (sealed first).
  if (identity_ && options_.materialize) {
    URBIS_ASSIGN_OR_RETURN(bool staged, has_staged(space.id));
    if (staged) URBIS_RETURN_IF_ERROR(local_write([&] { return try_seal(space.id); }));
  }
  // Which authors the peer lacks changes of, from which seq on.
  std::unordered_map<int64_t, uint64_t> from;  // author row -> highest seq known
  {
    Stmt s = db_->prepare("SELECT id, pk, head_seq FROM authors WHERE space=? AND wrote AND head_seq>0");
    s.bind(1, space.id);
    while (s.step()) {
      auto it = known.find(s.id<DeviceKey>(1));
      uint64_t have = it == known.end() ? 0 : it->second;
      if (have < static_cast<uint64_t>(s.i64(2))) from[s.i64(0)] = have;
    }
    URBIS_RETURN_IF_ERROR(s.status());
  }
  std::vector<Bytes> out;
  if (from.empty()) return out;
  // Log order (arrival here) is an order in which each change was valid; a
  // batch stops at the byte budget, so it costs what it returns, not what
  // the peer lacks in total, nor the history before it.
  size_t bytes = 0;
  auto take = [&](ByteView env) {
    if (!out.empty() && bytes + env.size() > max_bytes) return false;
    bytes += env.size();
    out.emplace_back(env.begin(), env.end());
    return true;
  };
  if (from.size() <= kMergeAuthors) {
    // Few authors lacking (a live push, a device back from a while away):
    // one cursor per author on its chain (seq order is its arrival order),
    // merged by arrival. Changes the peer has, of these authors or others,
    // are never read, however many came after what it lacks.
    std::vector<Stmt> cursors;
    cursors.reserve(from.size());
    using Next = std::pair<int64_t, size_t>;  // (arrival id, cursor)
    std::priority_queue<Next, std::vector<Next>, std::greater<>> next;
    for (auto [author, have] : from) {
      URBIS_ASSIGN_OR_RETURN(
          Stmt c, db_->prepare_once("SELECT id, envelope FROM changes WHERE author=? AND seq>? ORDER BY seq"));
      c.bind(1, author).bind(2, have);
      const bool row = c.step();
      URBIS_RETURN_IF_ERROR(c.status());
      if (!row) continue;
      next.emplace(c.i64(0), cursors.size());
      cursors.push_back(std::move(c));
    }
    while (!next.empty()) {
      const size_t i = next.top().second;
      next.pop();
      if (!take(cursors[i].blob(1))) break;
      const bool row = cursors[i].step();
      URBIS_RETURN_IF_ERROR(cursors[i].status());
      if (row) next.emplace(cursors[i].i64(0), i);
    }
    return out;
  }
  // Many authors lacking (a new peer): one index range of the space's log
  // (changes_by_space), from the earliest missing change. The version vector
  // is the peer's to choose: lacking one early change of each of many
  // authors, it would make the scan skip most of the log for a few changes.
  // So once a bounded batch holds something, at most kMaxScanRows rows are
  // read for it; a shorter batch is still a batch (the peer asks for the
  // next one). A caller asking for everything (no byte budget) gets it all.
  int64_t start = INT64_MAX;
  for (auto [author, have] : from) {
    Stmt s = db_->prepare("SELECT id FROM changes WHERE author=? AND seq=?");
    s.bind(1, author).bind(2, have + 1);
    if (s.step()) start = std::min(start, s.i64(0));
    URBIS_RETURN_IF_ERROR(s.status());
  }
  Stmt s = db_->prepare("SELECT author, seq, envelope FROM changes WHERE space=? AND id>=? ORDER BY id");
  s.bind(1, space.id).bind(2, start);
  const size_t max_rows = max_bytes == SIZE_MAX ? SIZE_MAX : kMaxScanRows;
  for (size_t read = 0; s.step(); ++read) {
    if (read >= max_rows && !out.empty()) break;
    auto it = from.find(s.i64(0));
    if (it == from.end() || static_cast<uint64_t>(s.i64(1)) <= it->second) continue;
    if (!take(s.blob(2))) break;
  }
  URBIS_RETURN_IF_ERROR(s.status());
  return out;
}

Result<size_t> Replica::Impl::held_count(const SpaceId& sid) {
  URBIS_ASSIGN_OR_RETURN(SpaceRow space, find_space(sid));
  Stmt s = db_->prepare("SELECT held_rows FROM held_usage WHERE space=? AND author=x''");
  s.bind(1, space.id);
  if (s.step()) return static_cast<size_t>(s.i64(0));
  URBIS_RETURN_IF_ERROR(s.status());
  return size_t{0};
}

Result<size_t> Replica::Impl::held_bytes(const SpaceId& sid, const DeviceKey* author) {
  URBIS_ASSIGN_OR_RETURN(SpaceRow space, find_space(sid));
  Stmt s = author ? db_->prepare("SELECT held_bytes FROM held_usage WHERE space=? AND author=?")
                  : db_->prepare("SELECT held_bytes FROM held_usage WHERE space=? AND author=x''");
  s.bind(1, space.id);
  if (author) s.bind(2, author->view());
  if (s.step()) return static_cast<size_t>(s.i64(0));
  URBIS_RETURN_IF_ERROR(s.status());
  return size_t{0};
}

Result<bool> Replica::Impl::member_by_log(const SpaceId& sid, const DeviceKey& device) {
  URBIS_ASSIGN_OR_RETURN(SpaceRow space, find_space(sid));
  // A role now, one held once (role_ranges), or a change written: never for
  // an invite key.
  Stmt s = db_->prepare(
      "SELECT 1 FROM authors a WHERE space=? AND pk=? AND invite_expires=0 AND "
      "(role>0 OR head_seq>0 OR EXISTS (SELECT 1 FROM role_ranges r WHERE r.author=a.id))");
  s.bind(1, space.id).bind(2, device.view());
  if (s.step()) return true;
  URBIS_RETURN_IF_ERROR(s.status());
  return false;
}

// Deletes every row the space owns, materialization first (its rows hang off
// entities and author rows), in one transaction; the key cache is reloaded.
Status Replica::Impl::drop_space(const SpaceId& sid) {
  URBIS_ASSIGN_OR_RETURN(SpaceRow space, find_space(sid));
  static const char* kDrop[] = {
      "DELETE FROM fts WHERE rowid IN (SELECT id FROM entities WHERE space=?1)",
      "DELETE FROM facets WHERE entity IN (SELECT id FROM entities WHERE space=?1)",
      "DELETE FROM vals WHERE entity IN (SELECT id FROM entities WHERE space=?1)",
      "DELETE FROM stale_entities WHERE entity IN (SELECT id FROM entities WHERE space=?1)",
      // By space: `op` there is the target's seq and index, not an op key
      // (row ids are reused: a leftover would act on the next space stored).
      "DELETE FROM superseded WHERE space=?1",
      "DELETE FROM entities WHERE space=?1",
      "DELETE FROM changes WHERE author IN (SELECT id FROM authors WHERE space=?1)",
      "DELETE FROM role_ranges WHERE author IN (SELECT id FROM authors WHERE space=?1)",
      "DELETE FROM mlog WHERE space=?1",
      "DELETE FROM held WHERE space=?1",
      "DELETE FROM held_usage WHERE space=?1",
      "DELETE FROM grants WHERE space=?1",
      "DELETE FROM epochs WHERE space=?1",
      "DELETE FROM dark_epochs WHERE space=?1",
      "DELETE FROM staged WHERE space=?1",
      "DELETE FROM authors WHERE space=?1",
      "DELETE FROM spaces WHERE id=?1",
  };
  DbTransaction tx(*db_);
  URBIS_RETURN_IF_ERROR(tx.begin());
  for (const char* sql : kDrop) URBIS_RETURN_IF_ERROR(db_->prepare(sql).bind(1, space.id).run());
  URBIS_RETURN_IF_ERROR(tx.commit());
  dirty_.clear();
  resolvers_.clear();
  author_keys_.clear();
  keyring_.clear();
  return load_keys();
}

// ---------------------------------------------------------------- public face

Replica::Replica(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Replica::~Replica() = default;

Result<std::unique_ptr<Replica>> Replica::open(const std::string& location, std::optional<Identity> identity, Env& env,
                                               ReplicaOptions options) {
  crypto_init();
  URBIS_ASSIGN_OR_RETURN(std::unique_ptr<Db> db, Db::open(location));
  auto impl = std::make_unique<Impl>(std::move(db), std::move(identity), env, options);
  URBIS_RETURN_IF_ERROR(impl->init());
  return std::unique_ptr<Replica>(new Replica(std::move(impl)));
}

DeviceKey Replica::device() const { return impl_->device(); }
const Identity* Replica::identity() const { return impl_->identity_ ? &*impl_->identity_ : nullptr; }
Result<SpaceId> Replica::create_space(std::string_view name) { return impl_->create_space(name); }
Result<std::vector<SpaceInfo>> Replica::spaces() { return impl_->spaces(); }
Result<SpaceInfo> Replica::space(const SpaceId& s) { return impl_->space_info(s); }
Result<std::vector<Member>> Replica::members(const SpaceId& s) { return impl_->members(s); }
Result<Role> Replica::member_role(const SpaceId& s, const DeviceKey& d) { return impl_->member_role(s, d); }
Result<bool> Replica::member_of_any(const DeviceKey& d) { return impl_->member_of_any(d); }
Status Replica::set_role(const SpaceId& s, const DeviceKey& d, Role r, std::vector<EntityId> scope) {
  return impl_->set_role(s, d, r, std::move(scope));
}
Status Replica::revoke_invite(const SpaceId& s, const DeviceKey& invite) { return impl_->revoke_invite(s, invite); }
Result<bool> Replica::heal(const SpaceId& s) { return impl_->heal(s); }
Status Replica::check_own_change(ByteView envelope) { return impl_->check_own_change(envelope); }
Transaction Replica::begin(const SpaceId& s) { return Transaction(s, &impl_->env_); }
Result<CommitInfo> Replica::commit(const Transaction& tx) {
  URBIS_ASSIGN_OR_RETURN(std::vector<CommitInfo> infos, impl_->commit_all(&tx, 1));
  return std::move(infos.front());
}
Result<std::vector<CommitInfo>> Replica::commit_group(const std::vector<Transaction>& txs) {
  if (txs.empty()) return std::vector<CommitInfo>{};
  return impl_->commit_all(txs.data(), txs.size());
}
Result<StageInfo> Replica::stage(const Transaction& tx) { return impl_->stage(tx); }
Result<std::optional<CommitInfo>> Replica::seal(const SpaceId& s) { return impl_->seal(s); }
Result<size_t> Replica::staged_ops(const SpaceId& s) { return impl_->staged_ops(s); }
Result<ApplyOutcome> Replica::apply(ByteView envelope) {
  auto results = impl_->apply_batch({envelope});
  return std::move(results.front());
}
std::vector<Result<ApplyOutcome>> Replica::apply_batch(const std::vector<Bytes>& envelopes) {
  std::vector<ByteView> views(envelopes.begin(), envelopes.end());
  return impl_->apply_batch(views);
}
Result<VersionVector> Replica::version_vector(const SpaceId& s) { return impl_->version_vector(s); }
Result<std::vector<Bytes>> Replica::changes_since(const SpaceId& s, const VersionVector& known, size_t max_bytes) {
  return impl_->changes_since(s, known, max_bytes);
}
Result<size_t> Replica::held_count(const SpaceId& s) { return impl_->held_count(s); }
Status Replica::drop_space(const SpaceId& s) { return impl_->drop_space(s); }
Result<bool> Replica::member_by_log(const SpaceId& s, const DeviceKey& d) { return impl_->member_by_log(s, d); }
Result<size_t> Replica::held_bytes(const SpaceId& s) { return impl_->held_bytes(s, nullptr); }
Result<size_t> Replica::held_bytes(const SpaceId& s, const DeviceKey& author) { return impl_->held_bytes(s, &author); }
Result<Entity> Replica::get(const SpaceId& s, const EntityId& id) { return impl_->get(s, id); }
Result<FindResult> Replica::find(const SpaceId& s, const Query& q) { return impl_->find(s, q); }
Status Replica::refresh() { return impl_->refresh_stale(); }
Result<Hash> Replica::state_hash(const SpaceId& s) { return impl_->state_hash(s); }
Status Replica::check_integrity() { return urbis::check_integrity(*impl_->db_); }
Result<Replica::Checkpoint> Replica::checkpoint(bool vacuum) {
  Db& db = *impl_->db_;
  if (vacuum) URBIS_RETURN_IF_ERROR(db.exec("VACUUM"));
  Checkpoint out;
  if (sqlite3_wal_checkpoint_v2(db.handle(), nullptr, SQLITE_CHECKPOINT_TRUNCATE, &out.wal_frames, &out.checkpointed) !=
      SQLITE_OK)
    return db.error("checkpoint");
  return out;
}

}  // namespace urbis
