// Materialization: content ops -> `vals` (every live value of every register
// and set) -> one row per entity with its summary document, facet rows and
// full-text row.
//
// Merge rule (DESIGN.md): a value is live unless an op that may overwrite it
// named it (the content rules, core/README.md). An overwrite of an op live
// here is judged at once; one of an op not live here (not arrived yet, or
// already dead) is remembered in `superseded` with what judges it (entity,
// register slot, the overwriting op and its hlc), and judged by the same rule
// when that op arrives: the live set is a function of the set of ops applied,
// whatever their order. The winner of a register is its live value with the
// highest (hlc, author); the others are conflicts. A set is the keys of its
// live adds (add-wins OR-set).
//
// An entity's type is its best claim (every group of ops claims its entity's
// type): a writer's claim beats a commenter's, then the lowest (hlc, author,
// seq, op index), then the lower type name. A commenter claims only
// `comment`, and its ops count only in a group claiming `comment` of an entity
// whose real type is `comment`. A claim that moves a type across the
// `comment` boundary changes what earlier ops mean: the space is rebuilt
// (rare: only a forged or buggy claim does it).
#include <algorithm>
#include <set>
#include <tuple>

#include "content_rules.h"
#include "envelope_codec.h"
#include "replica_impl.h"
#include "text_index.h"

namespace urbis {
namespace {

enum ValKind : int { kPlain = 0, kText = 1, kSetElem = 2 };

struct Val {
  int kind;
  std::string field, key, value, src;
  uint64_t hlc;
  DeviceKey author;
  int64_t op;
};

// `op` packs the author's row id above seq and index: between two ops of
// one author (the only ones live_before compares by op) the same row id.
LiveStamp stamp_of(const Val& v) { return {v.hlc, v.author, static_cast<uint64_t>(v.op)}; }

// By register, then as the read model orders live values (live_before, as
// get() does): the winner leads each register's run.
bool val_before(const Val& a, const Val& b) {
  if (std::tie(a.kind, a.field, a.key) != std::tie(b.kind, b.field, b.key))
    return std::tie(a.kind, a.field, a.key) < std::tie(b.kind, b.field, b.key);
  return live_before(stamp_of(a), stamp_of(b));
}

bool looks_like_id(const std::string& s) {
  return s.size() == 32 &&
         std::all_of(s.begin(), s.end(), [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); });
}

std::string facet_text(const nlohmann::json& v) { return v.is_string() ? v.get<std::string>() : v.dump(); }

// The register an op writes: kind of value, field, key (locale, set
// element, or "" for a plain field). A set remove names adds of any element
// of its field (`any_key`): the element is that of the add it names.
struct Slot {
  int kind = kPlain;
  std::string_view field, key;
  bool any_key = false;
};

// A 16-byte digest of a slot, kept in `superseded` instead of the slot's
// text (a remembered overwrite costs the same whatever the element's size).
Bytes slot_digest(int kind, std::string_view field, std::string_view key, bool any_key) {
  crypto_generichash_state st;
  crypto_generichash_init(&st, nullptr, 0, 16);
  const uint8_t head[2] = {static_cast<uint8_t>(kind), static_cast<uint8_t>(any_key)};
  crypto_generichash_update(&st, head, sizeof head);
  uint8_t len[8];
  for (int i = 0; i < 8; ++i) len[i] = static_cast<uint8_t>(uint64_t{field.size()} >> (8 * i));
  crypto_generichash_update(&st, len, sizeof len);
  crypto_generichash_update(&st, reinterpret_cast<const uint8_t*>(field.data()), field.size());
  if (!any_key) crypto_generichash_update(&st, reinterpret_cast<const uint8_t*>(key.data()), key.size());
  Bytes out(16);
  crypto_generichash_final(&st, out.data(), out.size());
  return out;
}

// The slot of `op`, or nullopt when the op breaks a rule on its shape: a
// field of 1..kMaxFieldBytes, a translatable text with a locale and a JSON
// string, values that pass value_problem().
std::optional<Slot> op_slot(const pb::Op& op) {
  if (op.field().empty() || op.field().size() > kMaxFieldBytes || !valid_utf8(op.field())) return std::nullopt;
  Slot s;
  s.field = op.field();
  switch (op.kind()) {
    case pb::OP_SET_REMOVE:
      s.kind = kSetElem;
      s.any_key = true;
      return s;  // carries no value
    case pb::OP_SET_TEXT:
      if (op.locale().empty() || op.locale().size() > kMaxLocaleBytes || op.source_locale().size() > kMaxLocaleBytes ||
          !valid_utf8(op.locale()) || !valid_utf8(op.source_locale()) || !json_text_is_string(op.value()))
        return std::nullopt;
      s.kind = kText;
      s.key = op.locale();
      break;
    case pb::OP_SET_ADD:
      s.kind = kSetElem;
      s.key = op.value();
      break;
    default:  // OP_SET, OP_DELETE, OP_RESTORE: a plain register
      break;
  }
  if (!value_problem(op.value()).empty()) return std::nullopt;
  return s;
}

// Whether op R (r_*) is one the writer of op O (o_*) can have seen: an earlier
// op of O's own change, or an op with a lower hlc that is not one of O's
// author's own ops at or after O's seq (a writer's hlc is above every op it
// has received).
bool seen_by(const DeviceKey& r_author, uint64_t r_seq, uint32_t r_index, uint64_t r_hlc, const DeviceKey& o_author,
             uint64_t o_seq, uint32_t o_index, uint64_t o_hlc) {
  if (r_author == o_author) {
    if (r_seq == o_seq) return r_index < o_index;
    if (r_seq > o_seq) return false;
  }
  return r_hlc < o_hlc;
}

}  // namespace

struct Replica::Impl::Claim {
  int rank;  // 1: a writer of every type, 0: a commenter
  uint64_t hlc;
  DeviceKey author;
  int64_t op;  // op key of the group's first op: (author row, seq, index)
  std::string type;
  Bytes home;  // the home city the group names (home_of_group)
};

Result<std::pair<int64_t, std::string>> Replica::Impl::claim_entity(int64_t space, const EntityId& eid,
                                                                    const Claim& c) {
  constexpr int64_t kSeqIndexMask = (int64_t{1} << (kOpSeqBits + kOpIndexBits)) - 1;
  // The row as stored: kept by the batch's run (ApplyRun) when it is the
  // entity the last claim of the run named, else read.
  ApplyRun::EntityClaim& kept = run_.claim;
  const bool cached = run_.active && kept.space == space && kept.eid == eid;
  if (!cached) {
    kept = ApplyRun::EntityClaim{};
    Stmt s =
        db_->prepare("SELECT id, type, claim_rank, claim_hlc, claim_op, home FROM entities WHERE space=? AND eid=?");
    s.bind(1, space).bind(2, eid.view());
    if (s.step()) {
      kept.id = s.i64(0);
      kept.type = s.str(1);
      kept.rank = static_cast<int>(s.i64(2));
      kept.hlc = static_cast<uint64_t>(s.i64(3));
      kept.op = s.i64(4);
      kept.home = s.bytes(5);
    }
    URBIS_RETURN_IF_ERROR(s.status());
    // The key, once the row (or its absence) is read: what is kept is
    // always the row of the entity it names.
    kept.eid = eid;
    kept.space = run_.active ? space : 0;
  }
  auto keep = [&](int64_t id) {
    kept.space = run_.active ? space : 0;
    kept.eid = eid;
    kept.id = id;
    kept.type = c.type;
    kept.rank = c.rank;
    kept.hlc = c.hlc;
    kept.op = c.op;
    kept.home = c.home;
  };
  if (kept.id) {
    // Better: higher rank, then lower (hlc, author, seq, index, type). The
    // common case (a later edit by a writer) is decided without a lookup.
    bool better = c.rank != kept.rank ? c.rank > kept.rank : c.hlc != kept.hlc ? c.hlc < kept.hlc : false;
    if (c.rank == kept.rank && c.hlc == kept.hlc) {
      URBIS_ASSIGN_OR_RETURN(DeviceKey stored_author, author_key(op_author_row(kept.op)));
      better = std::make_tuple(c.author, c.op & kSeqIndexMask, std::string_view(c.type)) <
               std::make_tuple(stored_author, kept.op & kSeqIndexMask, std::string_view(kept.type));
    }
    if (!better) return std::make_pair(kept.id, kept.type);
    const int64_t id = kept.id;
    const std::string type = std::move(kept.type);
    const Bytes home = std::move(kept.home);
    kept = ApplyRun::EntityClaim{};  // until the row is written
    Stmt u = db_->prepare("UPDATE entities SET type=?, claim_rank=?, claim_hlc=?, claim_op=?, home=? WHERE id=?");
    URBIS_RETURN_IF_ERROR(
        u.bind(1, c.type).bind(2, c.rank).bind(3, c.hlc).bind(4, c.op).bind(5, ByteView(c.home)).bind(6, id).run());
    if (type != c.type && (type == "comment" || c.type == "comment")) retyped_ = true;
    // A home that moves changes what scoped writers' ops meant: rebuilt.
    if (home != c.home) URBIS_RETURN_IF_ERROR(home_known(space, eid, !home.empty()));
    keep(id);
    return std::make_pair(id, c.type);
  }
  Stmt s = db_->prepare(
      "INSERT INTO entities(space, eid, type, claim_rank, claim_hlc, claim_op, home) "
      "VALUES(?, ?, ?, ?, ?, ?, ?)");
  URBIS_RETURN_IF_ERROR(s.bind(1, space)
                            .bind(2, eid.view())
                            .bind(3, c.type)
                            .bind(4, c.rank)
                            .bind(5, c.hlc)
                            .bind(6, c.op)
                            .bind(7, ByteView(c.home))
                            .run());
  const int64_t id = db_->last_insert_rowid();
  if (!c.home.empty()) URBIS_RETURN_IF_ERROR(home_known(space, eid, false));
  keep(id);
  return std::make_pair(id, c.type);
}

Status Replica::Impl::home_known(int64_t space, const EntityId& eid, bool moved) {
  if (moved) {
    // A home that was known moved (a better claim naming another city):
    // only a space with scoped members cares.
    Stmt s = db_->prepare("SELECT 1 FROM authors WHERE space=? AND scope!=x'' LIMIT 1");
    s.bind(1, space);
    if (s.step()) retyped_ = true;
    return s.status();
  }
  // Learnt: a scoped writer's ops that waited for it are judged again.
  Stmt d = db_->prepare("DELETE FROM scoped_pending WHERE space=? AND eid=?");
  URBIS_RETURN_IF_ERROR(d.bind(1, space).bind(2, eid.view()).run());
  if (db_->changes() > 0) retyped_ = true;
  return Status::ok();
}

Status Replica::Impl::materialize(const SpaceRow& space, const AuthorRow& author, uint64_t seq, uint64_t hlc,
                                  uint32_t epoch, const pb::Body& body, bool claims_only, uint32_t first_index) {
  // The role this change counts under (not its epoch's: a role holds by
  // ranges of the author's own chain, docs/membership.md).
  (void)epoch;
  URBIS_ASSIGN_OR_RETURN(RoleAt at, role_at(author, seq));
  const Role role = at.role;
  if (!can_write(role)) return Status::ok();
  const int rank = role == Role::Commenter ? 0 : 1;
  // Body.authors, looked up when a reference needs them: a key never creates
  // an author row (an overwrite of an unknown author's op is remembered by
  // key, in `superseded`, charged to this change).
  struct RefAuthor {
    bool looked_up = false;
    std::optional<DeviceKey> key;  // nullopt: not a 32-byte key
    int64_t row = 0;               // 0: no row in this space (yet)
  };
  std::vector<RefAuthor> ref_authors(static_cast<size_t>(body.authors_size()));
  auto ref_author = [&](uint32_t i) -> Result<const RefAuthor*> {
    RefAuthor& a = ref_authors[i];
    if (!a.looked_up) {
      a.looked_up = true;
      a.key = DeviceKey::from_string(body.authors(static_cast<int>(i)));
      if (a.key) {
        // Only its row id (find_author reads the whole membership row).
        Stmt s = db_->prepare("SELECT id FROM authors WHERE space=? AND pk=?");
        s.bind(1, space.id).bind(2, a.key->view());
        if (s.step()) a.row = s.i64(0);
        URBIS_RETURN_IF_ERROR(s.status());
      }
    }
    return &a;
  };
  // Remembered overwrites are rare (ops arriving after an op that names
  // them): one lookup per change spares one per op when there are none.
  bool remembered = false;
  if (!claims_only) {
    Stmt s = db_->prepare("SELECT 1 FROM superseded WHERE space=? LIMIT 1");
    s.bind(1, space.id);
    remembered = s.step();
    URBIS_RETURN_IF_ERROR(s.status());
  }
  uint64_t index = first_index;  // op index in the change's order, counted over every op
  for (const auto& group : body.entities()) {
    const uint64_t first = index;
    index += static_cast<uint64_t>(group.ops_size());
    // A group with a malformed id or type, a commenter's group on anything
    // but a comment, and ops past the last addressable index: no effect.
    auto eid = EntityId::from_string(group.id());
    if (!eid || group.type().empty() || group.type().size() > kMaxTypeBytes || !valid_utf8(group.type())) continue;
    if (rank == 0 && group.type() != "comment") continue;
    if (first >= kMaxOpsPerChange) continue;
    Claim claim{rank,         hlc,
                author.pk,    op_key(author.id, seq, static_cast<uint32_t>(first)),
                group.type(), home_of_group(group, *eid)};
    std::pair<int64_t, std::string> entity_type;
    if (!at.scope.empty() && !scope_free(group.type())) {
      // A scoped writer (docs/membership.md): its claim counts when the group
      // itself names a home in its scope (it creates an entity of its
      // cities); its ops count on entities whose home is in its scope.
      const bool own = in_scope(claim.home, at.scope);
      if (claims_only && !own) continue;
      int64_t id = 0;
      std::string type;
      Bytes home;
      {
        Stmt s = db_->prepare("SELECT id, type, home FROM entities WHERE space=? AND eid=?");
        s.bind(1, space.id).bind(2, eid->view());
        if (s.step()) {
          id = s.i64(0);
          type = s.str(1);
          home = s.bytes(2);
        }
        URBIS_RETURN_IF_ERROR(s.status());
      }
      if (home.empty() && !own) {
        // Not judgeable yet: when its home arrives, the space is rebuilt.
        Stmt p = db_->prepare("INSERT OR IGNORE INTO scoped_pending(space, eid) VALUES(?, ?)");
        URBIS_RETURN_IF_ERROR(p.bind(1, space.id).bind(2, eid->view()).run());
        continue;
      }
      if (!home.empty() && !in_scope(home, at.scope)) continue;
      if (own) {
        URBIS_ASSIGN_OR_RETURN(entity_type, claim_entity(space.id, *eid, claim));
        // A better claim by another may give it another home: judged again
        // then (rebuild).
      } else {
        entity_type = {id, type};
      }
    } else {
      URBIS_ASSIGN_OR_RETURN(entity_type, claim_entity(space.id, *eid, claim));
    }
    const auto& [entity, type] = entity_type;
    if (claims_only || (rank == 0 && type != "comment")) continue;
    for (int n = 0; n < group.ops_size(); ++n) {
      const pb::Op& op = group.ops(n);
      const uint64_t i = first + static_cast<uint64_t>(n);
      const int kind = op.kind();
      if (i >= kMaxOpsPerChange) break;
      if (kind < 0 || kind > op_level_) continue;  // kept in the log, not understood here
      const auto slot = op_slot(op);
      if (!slot) continue;
      const auto index32 = static_cast<uint32_t>(i);
      // Every reference must name an op that can exist, else the op has no
      // effect; a well-formed reference that does not fit the rules (another
      // entity or register, not seen by the writer) has no effect by itself.
      bool refs_ok = true;
      for (const auto& ref : op.overwrites()) {
        if (ref.author() >= ref_authors.size() || ref.seq() < 1 || ref.seq() > kMaxSeq ||
            ref.index() >= kMaxOpsPerChange) {
          refs_ok = false;
          break;
        }
        URBIS_ASSIGN_OR_RETURN(const RefAuthor* a, ref_author(ref.author()));
        if (!a->key) {
          refs_ok = false;
          break;
        }
      }
      if (!refs_ok) continue;
      const int64_t key = op_key(author.id, seq, index32);
      for (const auto& ref : op.overwrites()) {
        const RefAuthor& a = ref_authors[ref.author()];
        const auto r_index = static_cast<uint32_t>(ref.index());
        if (a.row) {
          const int64_t gone = op_key(a.row, ref.seq(), r_index);
          Stmt s = db_->prepare("SELECT entity, kind, field, key, hlc FROM vals WHERE op=?");
          s.bind(1, gone);
          if (s.step()) {
            // Live here: judged now, once (it will not arrive again).
            if (s.i64(0) == entity && s.i64(1) == slot->kind && s.str(2) == slot->field &&
                (slot->any_key || s.str(3) == slot->key) &&
                seen_by(*a.key, ref.seq(), r_index, static_cast<uint64_t>(s.i64(4)), author.pk, seq, index32, hlc)) {
              Stmt d = db_->prepare("DELETE FROM vals WHERE op=?");
              URBIS_RETURN_IF_ERROR(d.bind(1, gone).run());
              dirty_.insert(entity);
            }
            continue;
          }
          URBIS_RETURN_IF_ERROR(s.status());
        }
        // Not live here: remembered, and judged when (if) that op arrives.
        const Bytes digest = slot_digest(slot->kind, slot->field, slot->key, slot->any_key);
        Stmt s = db_->prepare(
            "INSERT OR IGNORE INTO superseded(space, author, op, by, entity, slot, hlc) "
            "VALUES(?,?,?,?,?,?,?)");
        URBIS_RETURN_IF_ERROR(s.bind(1, space.id)
                                  .bind(2, a.key->view())
                                  .bind(3, static_cast<int64_t>(ref.seq() << kOpIndexBits | r_index))
                                  .bind(4, key)
                                  .bind(5, entity)
                                  .bind(6, ByteView(digest))
                                  .bind(7, hlc)
                                  .run());
        remembered = true;
      }
      if (kind == pb::OP_SET_REMOVE) continue;
      if (remembered) {
        // Overwrites of this op that arrived first, judged by the same rule.
        struct By {
          int64_t entity;
          Bytes slot;
          uint64_t hlc;
          int64_t op;
        };
        std::vector<By> by;
        Stmt s = db_->prepare("SELECT entity, slot, hlc, by FROM superseded WHERE space=? AND author=? AND op=?");
        s.bind(1, space.id).bind(2, author.pk.view()).bind(3, static_cast<int64_t>(seq << kOpIndexBits | index32));
        while (s.step()) by.push_back({s.i64(0), s.bytes(1), static_cast<uint64_t>(s.i64(2)), s.i64(3)});
        URBIS_RETURN_IF_ERROR(s.status());
        bool dead = false;
        if (!by.empty()) {
          const Bytes exact = slot_digest(slot->kind, slot->field, slot->key, false);
          const Bytes any = slot_digest(slot->kind, slot->field, {}, true);
          for (const By& b : by) {
            if (b.entity != entity || (b.slot != exact && (slot->kind != kSetElem || b.slot != any))) continue;
            URBIS_ASSIGN_OR_RETURN(DeviceKey by_author, author_key(op_author_row(b.op)));
            if (seen_by(author.pk, seq, index32, hlc, by_author, op_seq(b.op), op_index(b.op), b.hlc)) {
              dead = true;
              break;
            }
          }
          // Judged: this op never arrives again (a rebuild starts afresh).
          Stmt d = db_->prepare("DELETE FROM superseded WHERE space=? AND author=? AND op=?");
          URBIS_RETURN_IF_ERROR(d.bind(1, space.id)
                                    .bind(2, author.pk.view())
                                    .bind(3, static_cast<int64_t>(seq << kOpIndexBits | index32))
                                    .run());
        }
        if (dead) continue;
      }
      dirty_.insert(entity);
      Stmt s = db_->prepare(
          "INSERT OR IGNORE INTO vals(op, entity, kind, field, key, value, hlc, src) "
          "VALUES(?,?,?,?,?,?,?,?)");
      URBIS_RETURN_IF_ERROR(s.bind(1, key)
                                .bind(2, entity)
                                .bind(3, slot->kind)
                                .bind(4, op.field())
                                .bind(5, std::string(slot->key))
                                .bind(6, op.value())
                                .bind(7, hlc)
                                .bind(8, op.source_locale())
                                .run());
    }
  }
  return Status::ok();
}

Status Replica::Impl::flush_dirty() {
  for (int64_t e : dirty_) URBIS_RETURN_IF_ERROR(refresh_entity(e));
  dirty_.clear();
  return Status::ok();
}

Status Replica::Impl::mark_stale() {
  for (int64_t e : dirty_) {
    Stmt s = db_->prepare("INSERT OR IGNORE INTO stale_entities(entity) VALUES(?)");
    URBIS_RETURN_IF_ERROR(s.bind(1, e).run());
  }
  if (!dirty_.empty()) stale_maybe_ = true;
  dirty_.clear();
  return Status::ok();
}

Result<int64_t> Replica::Impl::data_version() {
  Stmt v = db_->prepare("PRAGMA data_version");
  if (!v.step()) return v.status().is_ok() ? Status(Code::Storage, "no data_version") : v.status();
  return v.i64(0);
}

Status Replica::Impl::refresh_stale(bool wait) {
  {
    // Another connection on this store may have left entities stale, or
    // refreshed this one's: a look without the lock first, so a read does
    // not wait for a lock with nothing to do under it. The version is read
    // before the look: a commit after it moves the version.
    URBIS_ASSIGN_OR_RETURN(int64_t version, data_version());
    if (!stale_maybe_ && version == data_version_) return Status::ok();
    Stmt s = db_->prepare("SELECT 1 FROM stale_entities LIMIT 1");
    const bool any = s.step();
    URBIS_RETURN_IF_ERROR(s.status());
    if (!any) {
      stale_maybe_ = false;
      own_stale_ = false;
      data_version_ = version;
      return Status::ok();
    }
    stale_maybe_ = true;
  }
  // data_version as of the last chunk, read under its write lock: no other
  // connection commits in between (a put of another, after this chunk's
  // read, moves it and is seen by the next read), and this connection's own
  // commit does not move it.
  int64_t version = -1;
  for (;;) {
    std::optional<Db::BusyTimeout> no_wait;
    if (!wait) no_wait.emplace(*db_, 0);
    DbTransaction tx(*db_);
    URBIS_RETURN_IF_ERROR(tx.begin());
    no_wait.reset();
    // The next chunk in entity order; an entity dropped since (a space left
    // or rebuilt) is only forgotten. Under the write lock nothing is added
    // meanwhile, so the chunk goes by one range delete.
    std::vector<int64_t> chunk;
    int64_t last = 0;
    size_t rows = 0;
    {
      Stmt s = db_->prepare(
          "SELECT s.entity, e.id IS NOT NULL FROM stale_entities s LEFT JOIN entities e ON e.id = s.entity "
          "ORDER BY s.entity LIMIT ?");
      s.bind(1, static_cast<int64_t>(kStaleChunk));
      for (; s.step(); ++rows) {
        last = s.i64(0);
        if (s.i64(1)) chunk.push_back(last);
      }
      URBIS_RETURN_IF_ERROR(s.status());
    }
    for (int64_t e : chunk) URBIS_RETURN_IF_ERROR(refresh_entity(e));
    if (rows) {
      Stmt d = db_->prepare("DELETE FROM stale_entities WHERE entity <= ?");
      URBIS_RETURN_IF_ERROR(d.bind(1, last).run());
    }
    const bool last_chunk = rows < kStaleChunk;
    if (last_chunk) {
      auto now = data_version();
      version = now.is_ok() ? *now : -1;  // -1: the next read looks again
    }
    URBIS_RETURN_IF_ERROR(tx.commit());
    if (last_chunk) break;
  }
  stale_maybe_ = false;
  own_stale_ = false;
  data_version_ = version;
  return Status::ok();
}

Status Replica::Impl::refresh_entity(int64_t entity) {
  std::vector<Val> vals;
  {
    Stmt s = db_->prepare(
        "SELECT v.kind, v.field, v.key, v.value, v.hlc, a.pk, v.src, v.op FROM vals v "
        "JOIN authors a ON a.id = (v.op >> 43) WHERE v.entity=?");
    s.bind(1, entity);
    while (s.step())
      vals.push_back({static_cast<int>(s.i64(0)), s.str(1), s.str(2), s.str(3), s.str(6),
                      static_cast<uint64_t>(s.i64(4)), s.id<DeviceKey>(5), s.i64(7)});
    URBIS_RETURN_IF_ERROR(s.status());
  }
  std::sort(vals.begin(), vals.end(), val_before);

  bool deleted = false;
  uint64_t updated = 0;
  nlohmann::json doc = nlohmann::json::object();
  nlohmann::json originals = nlohmann::json::object();
  nlohmann::json conflicts = nlohmann::json::array();
  std::map<std::string, std::pair<const Val*, std::string>> original;  // by field: earliest untranslated winner
  std::vector<std::pair<std::string, std::string>> facets;
  std::string text;
  auto add_text = [&](const std::string& t) {
    if (!text.empty()) text += '\n';
    text += t;
  };
  // A field written with values of several kinds (plain, translatable, set)
  // shows in the summary document as its first kind in that order (the
  // others stay in get()): one JSON value cannot be a string, an object of
  // locales and an array at once.
  std::map<std::string, int> doc_kind;
  auto in_doc = [&](const Val& v) { return doc_kind.try_emplace(v.field, v.kind).first->second == v.kind; };
  for (size_t i = 0; i < vals.size(); ++i) {
    const Val& v = vals[i];
    updated = std::max(updated, v.hlc);
    const bool first =
        i == 0 || std::tie(v.kind, v.field, v.key) != std::tie(vals[i - 1].kind, vals[i - 1].field, vals[i - 1].key);
    const bool winner = first;
    if (v.kind == kPlain && v.field == "_deleted") {
      if (winner) deleted = parse_stored_value(v.value) == true;
      continue;
    }
    if (winner && i + 1 < vals.size() && v.kind != kSetElem &&
        std::tie(v.kind, v.field, v.key) == std::tie(vals[i + 1].kind, vals[i + 1].field, vals[i + 1].key))
      conflicts.push_back(v.kind == kText ? v.field + "@" + v.key : v.field);
    if (v.kind == kPlain) {
      if (!winner) continue;
      nlohmann::json value = parse_stored_value(v.value);
      if (value.is_primitive() && !value.is_null()) facets.emplace_back(v.field, facet_text(value));
      if (value.is_string() && !looks_like_id(value.get<std::string>())) add_text(value.get<std::string>());
      if (in_doc(v)) doc[v.field] = std::move(value);
    } else if (v.kind == kText) {
      if (!winner) continue;
      nlohmann::json value = parse_stored_value(v.value);
      if (value.is_string()) add_text(fts_index_text(value.get<std::string>()));
      if (!in_doc(v)) continue;
      doc[v.field][v.key] = std::move(value);
      if (v.src.empty()) {
        // The original locale: of the locales' winners, the earliest
        // untranslated one (as get(), query.cc).
        auto it = original.find(v.field);
        if (it == original.end() || earlier_original(stamp_of(v), stamp_of(*it->second.first)))
          original[v.field] = {&v, v.key};
      }
    } else if (v.kind == kSetElem) {
      if (!first) continue;  // several live adds of one element: one element
      nlohmann::json value = parse_stored_value(v.value);
      if (value.is_primitive() && !value.is_null()) facets.emplace_back(v.field, facet_text(value));
      if (value.is_string()) add_text(fts_index_text(value.get<std::string>()));
      if (in_doc(v)) doc[v.field].push_back(std::move(value));
    }
  }
  for (auto& [field, o] : original) originals[field] = o.second;
  for (auto& [field, value] : doc.items())
    if (value.is_object() && !originals.contains(field) && !value.empty()) originals[field] = value.begin().key();
  std::string title;
  for (const char* f : {"title", "name"}) {
    if (!doc.contains(f)) continue;
    const auto& t = doc[f];
    if (t.is_string())
      title = t.get<std::string>();
    else if (t.is_object() && originals.contains(f) && t.contains(originals[f].get<std::string>()) &&
             t[originals[f].get<std::string>()].is_string())
      title = t[originals[f].get<std::string>()].get<std::string>();
    if (!title.empty()) break;
  }
  if (!originals.empty()) doc["_orig"] = std::move(originals);
  if (!conflicts.empty()) doc["_conflicts"] = std::move(conflicts);

  // Facet rows and the full-text row are rewritten only when they changed:
  // most edits touch one field, and the FTS index is the costliest write.
  std::sort(facets.begin(), facets.end());
  facets.erase(std::unique(facets.begin(), facets.end()), facets.end());
  std::vector<std::pair<std::string, std::string>> old_facets;
  {
    Stmt s = db_->prepare("SELECT field, value FROM facets WHERE entity=? ORDER BY field, value");
    s.bind(1, entity);
    while (s.step()) old_facets.emplace_back(s.str(0), s.str(1));
    URBIS_RETURN_IF_ERROR(s.status());
  }
  if (old_facets != facets) {
    for (const auto& [field, value] : old_facets)
      if (!std::binary_search(facets.begin(), facets.end(), std::make_pair(field, value))) {
        Stmt d = db_->prepare("DELETE FROM facets WHERE field=? AND value=? AND entity=?");
        URBIS_RETURN_IF_ERROR(d.bind(1, field).bind(2, value).bind(3, entity).run());
      }
    for (const auto& fv : facets)
      if (!std::binary_search(old_facets.begin(), old_facets.end(), fv)) {
        Stmt i = db_->prepare("INSERT INTO facets(field, value, entity) VALUES(?,?,?)");
        URBIS_RETURN_IF_ERROR(i.bind(1, fv.first).bind(2, fv.second).bind(3, entity).run());
      }
  }
  int64_t text_hash = 0;  // 0: no text; else a 64-bit BLAKE2b of it, never 0
  if (!text.empty()) {
    uint8_t h[8];
    crypto_generichash(h, sizeof h, reinterpret_cast<const uint8_t*>(text.data()), text.size(), nullptr, 0);
    for (uint8_t b : h) text_hash = text_hash << 8 | b;
    text_hash |= 1;
  }
  int64_t old_hash = 0;
  bool was_deleted = false;
  {
    Stmt s = db_->prepare("SELECT text_hash, deleted FROM entities WHERE id=?");
    s.bind(1, entity);
    if (s.step()) {
      old_hash = s.i64(0);
      was_deleted = s.i64(1) != 0;
    }
    URBIS_RETURN_IF_ERROR(s.status());
  }
  if (old_hash != text_hash) {
    if (old_hash) {
      Stmt dt = db_->prepare("DELETE FROM fts WHERE rowid=?");
      URBIS_RETURN_IF_ERROR(dt.bind(1, entity).run());
    }
    if (text_hash) {
      Stmt s = db_->prepare("INSERT INTO fts(rowid, body) VALUES(?, ?)");
      URBIS_RETURN_IF_ERROR(s.bind(1, entity).bind(2, text).run());
    }
  }
  // `deleted` is set only when it changes: SQLite rewrites the entry of
  // every index over a column the UPDATE names (entities_by_type), changed
  // or not, and that is one more page in most edits' commits.
  Stmt u = db_->prepare(deleted == was_deleted
                            ? "UPDATE entities SET updated=?1, title=?2, doc=?3, text_hash=?4 WHERE id=?5"
                            : "UPDATE entities SET updated=?1, title=?2, doc=?3, text_hash=?4, deleted=?6 WHERE id=?5");
  u.bind(1, updated)
      .bind(2, title)
      .bind(3, doc.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace))
      .bind(4, text_hash)
      .bind(5, entity);
  if (deleted != was_deleted) u.bind(6, deleted ? 1 : 0);
  return u.run();
}

Status Replica::Impl::rebuild_space(const SpaceRow& space) {
  run_.claim = ApplyRun::EntityClaim{};  // the rows it names are deleted below
  // Entities of other spaces a batch has written wait for their refresh.
  // They stay in dirty_ (refreshing one again is harmless): if what follows
  // fails and this change is rolled back, so are these refreshes.
  for (int64_t e : dirty_) URBIS_RETURN_IF_ERROR(refresh_entity(e));
  static const char* kClear[] = {
      "DELETE FROM fts WHERE rowid IN (SELECT id FROM entities WHERE space=?1)",
      "DELETE FROM facets WHERE entity IN (SELECT id FROM entities WHERE space=?1)",
      "DELETE FROM vals WHERE entity IN (SELECT id FROM entities WHERE space=?1)",
      "DELETE FROM superseded WHERE space=?1",
      "DELETE FROM entities WHERE space=?1",
      "DELETE FROM scoped_pending WHERE space=?1",
  };
  for (const char* sql : kClear) URBIS_RETURN_IF_ERROR(db_->prepare(sql).bind(1, space.id).run());
  // The space's content log, in log order, kRebuildChunk changes at a time
  // (an index range of changes_by_space per chunk): memory stays bounded
  // however long the log.
  struct Row {
    int64_t id;
    Bytes envelope;
  };
  auto chunk_after = [&](int64_t after, std::vector<Row>& rows) -> Status {
    rows.clear();
    Stmt s = db_->prepare(
        "SELECT id, envelope FROM changes WHERE space=? AND id>? AND kind=0 AND revoked=0 ORDER BY id LIMIT ?");
    s.bind(1, space.id).bind(2, after).bind(3, static_cast<int64_t>(kRebuildChunk));
    while (s.step()) rows.push_back({s.i64(0), s.bytes(1)});
    return s.status();
  };
  // One stored change, in one pass: its claims, or its values.
  std::set<uint32_t> dark;  // epochs with content no held key opens
  auto replay = [&](const Bytes& envelope, bool claims_only) -> Status {
    // Stored bytes: they were judged when applied (and may predate the
    // canonical-encoding rule).
    auto parsed = parse_envelope(envelope, EnvelopeEncoding::Any);
    if (!parsed.is_ok()) return Status(Code::Internal, "stored change does not parse");
    const pb::Header& h = parsed->header;
    if (const auto* keys = keys_for(space.id, h.epoch())) {  // else unreadable here (an epoch never got)
      for (const auto& key : *keys) {
        auto clear = open_envelope_body(parsed->envelope, h, key);
        if (!clear) continue;
        pb::Body body;
        if (!body.ParseFromArray(clear->data(), static_cast<int>(clear->size()))) return Status::ok();
        URBIS_ASSIGN_OR_RETURN(AuthorRow author, find_author(space.id, parsed->author));
        return materialize(space, author, h.seq(), h.hlc(), h.epoch(), body, claims_only);
      }
    }
    if (claims_only) dark.insert(h.epoch());  // the first pass sees it all
    return Status::ok();
  };
  // Two passes over the log: every type claim first, so each entity has its
  // final type before any op is judged against it (no pass depends on the
  // log's order, and the second moves no type).
  std::vector<Row> rows;
  for (const bool claims_only : {true, false}) {
    for (int64_t after = 0;; after = rows.back().id) {
      URBIS_RETURN_IF_ERROR(chunk_after(after, rows));
      if (rows.empty()) break;
      for (const auto& row : rows) URBIS_RETURN_IF_ERROR(replay(row.envelope, claims_only));
    }
    // Then this device's staged puts (Replica::stage), which follow every
    // change it logged: durable here, sealed later, so kept by a rebuild.
    URBIS_RETURN_IF_ERROR(replay_staged(space, claims_only));
  }
  // What stays unread after the rebuild is what a new key may still open:
  // an epoch all of whose content opens is no longer dark (nor an upgraded
  // store's every epoch, after its first rebuild).
  URBIS_RETURN_IF_ERROR(db_->prepare("DELETE FROM dark_epochs WHERE space=?").bind(1, space.id).run());
  for (uint32_t epoch : dark) {
    Stmt d = db_->prepare("INSERT INTO dark_epochs(space, epoch) VALUES(?,?)");
    URBIS_RETURN_IF_ERROR(d.bind(1, space.id).bind(2, epoch).run());
  }
  retyped_ = false;  // claims were final before the second pass
  return flush_dirty();
}

Status Replica::Impl::replay_staged(const SpaceRow& space, bool claims_only) {
  URBIS_ASSIGN_OR_RETURN(std::vector<StagedPut> puts, read_staged(space.id));
  // Parked ones (staged.at -1, try_seal) are not in `vals` until they seal.
  std::erase_if(puts, [](const StagedPut& p) { return p.at < 0; });
  if (puts.empty()) return Status::ok();
  // Whoever opened the store: the puts are their author's (the device that
  // staged them seals them; stage() keeps one author per space).
  URBIS_ASSIGN_OR_RETURN(AuthorRow author, find_author(space.id, puts.front().author));
  // Rows whose seq the chain took (applied where they could not be sealed)
  // wait for their seal, which moves them after the head.
  if (puts.front().seq <= author.head_seq) return Status::ok();
  for (const StagedPut& put : puts) {
    pb::Body body;
    if (put.author != author.pk) continue;  // not one pending change: left to its seal
    if (!body.ParseFromArray(put.body.data(), static_cast<int>(put.body.size())))
      return Status(Code::Internal, "a staged put does not parse");
    URBIS_RETURN_IF_ERROR(materialize(space, author, put.seq, put.hlc, space.epoch, body, claims_only, put.first));
  }
  return Status::ok();
}

Status Replica::Impl::rebuild_all() {
  std::vector<SpaceRow> all;
  {
    Stmt s = db_->prepare("SELECT id, sid, name, epoch FROM spaces");
    while (s.step()) all.push_back({s.i64(0), s.id<SpaceId>(1), s.str(2), static_cast<uint32_t>(s.i64(3)), {}, true});
    URBIS_RETURN_IF_ERROR(s.status());
  }
  for (const auto& space : all) URBIS_RETURN_IF_ERROR(rebuild_space(space));
  return Status::ok();
}

}  // namespace urbis
