// Materialization: content ops -> `vals` (every live value of every register
// and set) -> one row per entity with its summary document, facet rows and
// full-text row.
//
// Merge rule (DESIGN.md): a value is live unless some op named it as
// overwritten. `superseded` remembers every overwritten op id, so an op that
// arrives after the op that overwrote it never becomes live: the live set is
// a function of the set of ops applied, whatever their order. The winner of a
// register is its live value with the highest (hlc, author); the others are
// conflicts. A set is the keys of its live adds (add-wins OR-set).
#include <algorithm>
#include <tuple>

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

// Highest (hlc, author) first: the winner leads each register's run.
bool val_before(const Val& a, const Val& b) {
  return std::tie(a.kind, a.field, a.key) != std::tie(b.kind, b.field, b.key)
             ? std::tie(a.kind, a.field, a.key) < std::tie(b.kind, b.field, b.key)
             : std::tie(a.hlc, a.author) > std::tie(b.hlc, b.author);
}

nlohmann::json parse_value(const std::string& text) {
  auto v = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  return v.is_discarded() ? nlohmann::json(text) : v;
}

bool looks_like_id(const std::string& s) {
  return s.size() == 32 && std::all_of(s.begin(), s.end(), [](char c) {
           return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
         });
}

std::string facet_text(const nlohmann::json& v) {
  return v.is_string() ? v.get<std::string>() : v.dump();
}

}  // namespace

Result<int64_t> Replica::Impl::entity_row(int64_t space, const EntityId& eid,
                                          const std::string& type, bool create) {
  {
    Stmt s = db_->prepare("SELECT id, type FROM entities WHERE space=? AND eid=?");
    s.bind(1, space).bind(2, eid.view());
    if (s.step()) {
      int64_t id = s.i64(0);
      if (type < s.str(1)) {  // the same id claimed with two types: keep the least, everywhere
        Stmt u = db_->prepare("UPDATE entities SET type=? WHERE id=?");
        URBIS_RETURN_IF_ERROR(u.bind(1, type).bind(2, id).run());
      }
      return id;
    }
    URBIS_RETURN_IF_ERROR(s.status());
  }
  if (!create) return int64_t{0};
  Stmt s = db_->prepare("INSERT INTO entities(space, eid, type) VALUES(?, ?, ?)");
  URBIS_RETURN_IF_ERROR(s.bind(1, space).bind(2, eid.view()).bind(3, type).run());
  return db_->last_insert_rowid();
}

Status Replica::Impl::materialize(const SpaceRow& space, const AuthorRow& author, uint64_t seq,
                                  uint64_t hlc, uint32_t epoch, const pb::Body& body) {
  const Role role = author.role_for(epoch, seq);
  std::vector<int64_t> author_rows;  // Body.authors -> author rows in this space
  for (const auto& pk : body.authors()) {
    auto key = DeviceKey::from_string(pk);
    if (!key) return Status(Code::Malformed, "op author must be 32 bytes");
    URBIS_ASSIGN_OR_RETURN(AuthorRow row, author_row(space.id, *key));
    author_rows.push_back(row.id);
  }
  uint32_t index = 0;
  for (const auto& group : body.entities()) {
    auto eid = EntityId::from_string(group.id());
    if (!eid || group.type().empty() || group.type().size() > 64)
      return Status(Code::Malformed, "entity needs a 16-byte id and a type");
    // Commenters may write comments only; other ops of theirs are kept in the
    // log but have no effect (the same decision on every replica).
    const bool allowed = role != Role::Commenter || group.type() == "comment";
    int64_t entity = 0;
    if (allowed) {
      URBIS_ASSIGN_OR_RETURN(entity, entity_row(space.id, *eid, group.type(), true));
    }
    for (const auto& op : group.ops()) {
      if (index + 1 >= kMaxOpsPerChange) return Status(Code::TooLarge, "too many ops in one change");
      const int64_t key = op_key(author.id, seq, index++);
      const int kind = op.kind();
      if (!allowed || kind < 0 || kind > op_level_) continue;  // kept in the log, not understood here
      if (op.field().empty()) return Status(Code::Malformed, "op without a field");
      for (const auto& ref : op.overwrites()) {
        if (ref.author() >= author_rows.size() || ref.seq() > kMaxSeq ||
            ref.index() >= kMaxOpsPerChange)
          return Status(Code::Malformed, "op refers to an unknown author or op");
        const int64_t gone = op_key(author_rows[ref.author()], ref.seq(), ref.index());
        Stmt s = db_->prepare("INSERT OR IGNORE INTO superseded(op) VALUES(?)");
        URBIS_RETURN_IF_ERROR(s.bind(1, gone).run());
        Stmt d = db_->prepare("DELETE FROM vals WHERE op=?");
        URBIS_RETURN_IF_ERROR(d.bind(1, gone).run());
      }
      dirty_.insert(entity);
      if (kind == pb::OP_SET_REMOVE) continue;
      {
        Stmt s = db_->prepare("SELECT 1 FROM superseded WHERE op=?");
        s.bind(1, key);
        if (s.step()) continue;  // already overwritten by an op that arrived first
      }
      int vkind = kPlain;
      std::string vkey;
      if (kind == pb::OP_SET_TEXT) {
        if (op.locale().empty() || op.locale().size() > 35)
          return Status(Code::Malformed, "translatable text needs a locale");
        vkind = kText;
        vkey = op.locale();
      } else if (kind == pb::OP_SET_ADD) {
        vkind = kSetElem;
        vkey = op.value();
      }
      Stmt s = db_->prepare(
          "INSERT OR IGNORE INTO vals(op, entity, kind, field, key, value, hlc, src) "
          "VALUES(?,?,?,?,?,?,?,?)");
      URBIS_RETURN_IF_ERROR(s.bind(1, key)
                                .bind(2, entity)
                                .bind(3, vkind)
                                .bind(4, op.field())
                                .bind(5, vkey)
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
  std::map<std::string, std::pair<std::tuple<uint64_t, DeviceKey>, std::string>> original;
  std::vector<std::pair<std::string, std::string>> facets;
  std::string text;
  auto add_text = [&](const std::string& t) {
    if (!text.empty()) text += '\n';
    text += t;
  };
  for (size_t i = 0; i < vals.size(); ++i) {
    const Val& v = vals[i];
    updated = std::max(updated, v.hlc);
    const bool first = i == 0 || std::tie(v.kind, v.field, v.key) !=
                                     std::tie(vals[i - 1].kind, vals[i - 1].field, vals[i - 1].key);
    const bool winner = first;
    if (v.kind == kPlain && v.field == "_deleted") {
      if (winner) deleted = parse_value(v.value) == true;
      continue;
    }
    if (winner && i + 1 < vals.size() && v.kind != kSetElem &&
        std::tie(v.kind, v.field, v.key) ==
            std::tie(vals[i + 1].kind, vals[i + 1].field, vals[i + 1].key))
      conflicts.push_back(v.kind == kText ? v.field + "@" + v.key : v.field);
    if (v.kind == kPlain) {
      if (!winner) continue;
      nlohmann::json value = parse_value(v.value);
      if (value.is_primitive() && !value.is_null()) facets.emplace_back(v.field, facet_text(value));
      if (value.is_string() && !looks_like_id(value.get<std::string>()))
        add_text(value.get<std::string>());
      doc[v.field] = std::move(value);
    } else if (v.kind == kText) {
      if (!winner) continue;
      nlohmann::json value = parse_value(v.value);
      if (value.is_string()) add_text(fts_index_text(value.get<std::string>()));
      doc[v.field][v.key] = std::move(value);
      if (v.src.empty()) {
        auto rank = std::make_tuple(v.hlc, v.author);
        auto it = original.find(v.field);
        // The original locale: the earliest untranslated text of the field.
        if (it == original.end() || rank < it->second.first) original[v.field] = {rank, v.key};
      }
    } else if (v.kind == kSetElem) {
      if (!first) continue;  // several live adds of one element: one element
      nlohmann::json value = parse_value(v.value);
      if (value.is_primitive() && !value.is_null()) facets.emplace_back(v.field, facet_text(value));
      if (value.is_string()) add_text(fts_index_text(value.get<std::string>()));
      doc[v.field].push_back(std::move(value));
    }
  }
  for (auto& [field, o] : original) originals[field] = o.second;
  for (auto& [field, value] : doc.items())
    if (value.is_object() && !originals.contains(field) && !value.empty())
      originals[field] = value.begin().key();
  std::string title;
  for (const char* f : {"title", "name"}) {
    if (!doc.contains(f)) continue;
    const auto& t = doc[f];
    if (t.is_string()) title = t.get<std::string>();
    else if (t.is_object() && originals.contains(f) && t[originals[f].get<std::string>()].is_string())
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
    crypto_generichash(h, sizeof h, reinterpret_cast<const uint8_t*>(text.data()), text.size(),
                       nullptr, 0);
    for (uint8_t b : h) text_hash = text_hash << 8 | b;
    text_hash |= 1;
  }
  int64_t old_hash = 0;
  {
    Stmt s = db_->prepare("SELECT text_hash FROM entities WHERE id=?");
    s.bind(1, entity);
    if (s.step()) old_hash = s.i64(0);
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
  Stmt u = db_->prepare(
      "UPDATE entities SET deleted=?, updated=?, title=?, doc=?, text_hash=? WHERE id=?");
  return u.bind(1, deleted ? 1 : 0)
      .bind(2, updated)
      .bind(3, title)
      .bind(4, doc.dump())
      .bind(5, text_hash)
      .bind(6, entity)
      .run();
}

Status Replica::Impl::rebuild_space(const SpaceRow& space) {
  static const char* kClear[] = {
      "DELETE FROM fts WHERE rowid IN (SELECT id FROM entities WHERE space=?1)",
      "DELETE FROM facets WHERE entity IN (SELECT id FROM entities WHERE space=?1)",
      "DELETE FROM vals WHERE entity IN (SELECT id FROM entities WHERE space=?1)",
      "DELETE FROM superseded WHERE (op >> 43) IN (SELECT id FROM authors WHERE space=?1)",
      "DELETE FROM entities WHERE space=?1",
  };
  for (const char* sql : kClear) URBIS_RETURN_IF_ERROR(db_->prepare(sql).bind(1, space.id).run());
  dirty_.clear();
  struct Row {
    int64_t author;
    Bytes envelope;
  };
  std::vector<Row> rows;
  {
    Stmt s = db_->prepare(
        "SELECT c.author, c.envelope FROM changes c JOIN authors a ON a.id=c.author "
        "WHERE a.space=? AND c.kind=0 AND c.revoked=0 ORDER BY c.id");
    s.bind(1, space.id);
    while (s.step()) rows.push_back({s.i64(0), s.bytes(1)});
    URBIS_RETURN_IF_ERROR(s.status());
  }
  for (const auto& row : rows) {
    pb::Envelope env;
    pb::Header h;
    if (!env.ParseFromArray(row.envelope.data(), static_cast<int>(row.envelope.size())) ||
        !h.ParseFromString(env.header()))
      return Status(Code::Internal, "stored change does not parse");
    const auto* keys = keys_for(space.id, h.epoch());
    if (!keys) continue;  // unreadable here (an epoch this device never got)
    auto to_view = [](const std::string& s) {
      return ByteView(reinterpret_cast<const uint8_t*>(s.data()), s.size());
    };
    for (const auto& key : *keys) {
      auto clear = aead_decrypt(to_view(env.body()), to_view(env.header()), to_view(h.nonce()), key);
      if (!clear) continue;
      pb::Body body;
      if (!body.ParseFromArray(clear->data(), static_cast<int>(clear->size()))) break;
      auto pk = DeviceKey::from_string(h.author());
      URBIS_ASSIGN_OR_RETURN(AuthorRow author, find_author(space.id, *pk));
      URBIS_RETURN_IF_ERROR(materialize(space, author, h.seq(), h.hlc(), h.epoch(), body));
      break;
    }
  }
  return flush_dirty();
}

Status Replica::Impl::rebuild_all() {
  std::vector<SpaceRow> all;
  {
    Stmt s = db_->prepare("SELECT id, sid, name, epoch FROM spaces");
    while (s.step())
      all.push_back({s.i64(0), s.id<SpaceId>(1), s.str(2), static_cast<uint32_t>(s.i64(3))});
    URBIS_RETURN_IF_ERROR(s.status());
  }
  for (const auto& space : all) URBIS_RETURN_IF_ERROR(rebuild_space(space));
  return Status::ok();
}

}  // namespace urbis
