// Reads: one entity with all its live values, Discover queries, state hash.
#include <algorithm>

#include "content_rules.h"
#include "replica_impl.h"
#include "text_index.h"

namespace urbis {
namespace {

static_assert(kOpSeqBits + kOpIndexBits == 43, "the SQL below shifts op keys by 43");

Version make_version(Stmt& s) {
  // Columns: kind, field, key, value, hlc, pk, src, op
  Version v;
  v.value = parse_stored_value(s.str(3));
  v.hlc = static_cast<uint64_t>(s.i64(4));
  v.author = s.id<DeviceKey>(5);
  v.source_locale = s.str(6);
  int64_t op = s.i64(7);
  v.op = OpId{v.author, op_seq(op), op_index(op)};
  return v;
}

LiveStamp stamp_of(const Version& v) { return {v.hlc, v.author, v.op.seq << 32 | v.op.index}; }

bool version_before(const Version& a, const Version& b) { return live_before(stamp_of(a), stamp_of(b)); }

// A register's live values are gathered in `conflicts` as they are read,
// then ordered once (settle): a forged change can leave thousands alive in
// one register, and sorting on each value was quadratic in them.
void settle(Register& r) {
  if (r.conflicts.empty()) return;
  std::sort(r.conflicts.begin(), r.conflicts.end(), version_before);
  r.winner = std::move(r.conflicts.front());
  r.conflicts.erase(r.conflicts.begin());
}

void hash_u64(crypto_generichash_state& st, uint64_t v) {
  uint8_t b[8];
  for (int i = 0; i < 8; ++i) b[i] = static_cast<uint8_t>(v >> (8 * i));
  crypto_generichash_update(&st, b, 8);
}

void hash_str(crypto_generichash_state& st, std::string_view s) {
  hash_u64(st, s.size());
  crypto_generichash_update(&st, reinterpret_cast<const uint8_t*>(s.data()), s.size());
}

}  // namespace

Result<Entity> Replica::Impl::get(const SpaceId& sid, const EntityId& id) {
  // Read from the entity's values alone (its `deleted` too, by the merge
  // rule refresh_entity applies): never waits for, nor writes, a refresh.
  URBIS_ASSIGN_OR_RETURN(SpaceRow space, find_space(sid));
  Entity e;
  e.id = id;
  int64_t row = 0;
  {
    Stmt s = db_->prepare("SELECT id, type FROM entities WHERE space=? AND eid=?");
    s.bind(1, space.id).bind(2, id.view());
    if (!s.step()) {
      URBIS_RETURN_IF_ERROR(s.status());
      return Status(Code::NotFound, "no entity " + id.hex());
    }
    row = s.i64(0);
    e.type = s.str(1);
  }
  Register deleted;
  Stmt s = db_->prepare(
      "SELECT v.kind, v.field, v.key, v.value, v.hlc, a.pk, v.src, v.op FROM vals v "
      "JOIN authors a ON a.id = (v.op >> 43) WHERE v.entity=?");
  s.bind(1, row);
  while (s.step()) {
    int kind = static_cast<int>(s.i64(0));
    std::string field = s.str(1), key = s.str(2);
    Version v = make_version(s);
    if (kind == 0) {
      (field == "_deleted" ? deleted : e.fields[field]).conflicts.push_back(std::move(v));
    } else if (kind == 1) {
      e.texts[field].locales[key].conflicts.push_back(std::move(v));
    } else if (kind == 2) {
      e.sets[field].push_back(std::move(v.value));  // several live adds of one element: one element
    }
  }
  URBIS_RETURN_IF_ERROR(s.status());
  settle(deleted);
  e.deleted = deleted.winner.value == true;
  for (auto& [field, r] : e.fields) settle(r);
  for (auto& [field, elems] : e.sets) {
    std::sort(elems.begin(), elems.end());
    elems.erase(std::unique(elems.begin(), elems.end()), elems.end());
  }
  for (auto& [field, t] : e.texts) {
    // The original locale: of the locales' winners, the earliest
    // untranslated one (as the summary's `_orig`, materialize.cc); else the
    // first locale.
    const Version* original = nullptr;
    for (auto& [locale, r] : t.locales) {
      settle(r);
      if (r.winner.source_locale.empty() && (!original || earlier_original(stamp_of(r.winner), stamp_of(*original)))) {
        original = &r.winner;
        t.original_locale = locale;
      }
    }
    if (!original && !t.locales.empty()) t.original_locale = t.locales.begin()->first;
  }
  return e;
}

Result<FindResult> Replica::Impl::find(const SpaceId& sid, const Query& q) {
  // Summaries, facets, full text. A refresh that cannot be written now
  // (another writer holds the store past the busy timeout, or at all when
  // nothing stale is this connection's own put; the disk is full) does not
  // stop the read: it shows what was last refreshed, and the next read
  // tries again.
  (void)refresh_stale(/*wait=*/own_stale_);
  URBIS_ASSIGN_OR_RETURN(SpaceRow space, find_space(sid));
  if (q.limit > 1000) return Status(Code::InvalidArgument, "limit is at most 1000");
  const std::string match = fts_match_query(q.text);
  // Filters other than text, as "AND ..." clauses with their parameters.
  std::string filters = " AND e.space=?";
  std::vector<std::string> params;
  if (!q.include_deleted) filters += " AND e.deleted=0";
  if (!q.type.empty()) {
    filters += " AND e.type=?";
    params.push_back(q.type);
  }
  for (const auto& [field, value] : q.where) {
    filters += " AND e.id IN (SELECT entity FROM facets WHERE field=? AND value=?)";
    params.push_back(field);
    params.push_back(value);
  }
  // Binds [match], space, params in that order, as the SQL below expects.
  auto bind_all = [&](Stmt& s, bool with_match) {
    int i = 1;
    if (with_match) s.bind(i++, match);
    s.bind(i++, space.id);
    for (const auto& p : params) s.bind(i++, p);
  };
  // Text narrows through the FTS index as a set of rowids: one doclist scan,
  // where a join evaluating MATCH per entity row is 100x slower.
  const std::string text_filter = match.empty() ? "" : " WHERE e.id IN (SELECT rowid FROM fts WHERE fts MATCH ?)";
  const std::string filtered = " FROM entities e" + (match.empty() ? " WHERE 1" + filters : text_filter + filters);
  FindResult out;
  {
    URBIS_ASSIGN_OR_RETURN(Stmt s, db_->prepare_once("SELECT count(*)" + filtered));
    bind_all(s, !match.empty());
    if (!s.step()) return s.status();
    out.total = static_cast<size_t>(s.i64(0));
  }
  if (q.limit == 0) return out;  // a count (facets, charts)
  // Relevance (bm25) costs about a microsecond per matching document, all of
  // them, whatever the filters; past kMaxRanked matches a very common word
  // says little about relevance anyway, so those results are newest first.
  constexpr int64_t kMaxRanked = 5000;
  bool ranked = false;
  if (q.sort == Query::Sort::Relevance && !match.empty()) {
    URBIS_ASSIGN_OR_RETURN(Stmt s, db_->prepare_once("SELECT count(*) FROM fts WHERE fts MATCH ?"));
    s.bind(1, match);
    if (!s.step()) return s.status();
    ranked = s.i64(0) <= kMaxRanked;
  }
  std::string sql;
  if (ranked) {
    sql =
        "SELECT e.eid, e.type, e.doc FROM (SELECT rowid AS id, rank FROM fts WHERE fts MATCH ?) f"
        " CROSS JOIN entities e ON e.id = f.id WHERE 1" +
        filters + " ORDER BY f.rank, e.id";
  } else {
    std::string order =
        q.sort == Query::Sort::Title ? " ORDER BY e.title COLLATE NOCASE, e.id" : " ORDER BY e.updated DESC, e.id";
    sql = "SELECT e.eid, e.type, e.doc" + filtered + order;
  }
  sql += " LIMIT " + std::to_string(q.limit) + " OFFSET " + std::to_string(q.offset);
  URBIS_ASSIGN_OR_RETURN(Stmt s, db_->prepare_once(sql));
  bind_all(s, !match.empty());
  while (s.step()) {
    Hit h;
    h.id = s.id<EntityId>(0);
    h.type = s.str(1);
    h.summary = parse_stored_value(s.str(2), 3);  // field, locale or set, value
    for (const char* f : {"title", "name"}) {
      const auto& doc = h.summary;
      if (!doc.contains(f)) continue;
      const auto& t = doc[f];
      if (t.is_string()) {
        h.title = t.get<std::string>();
      } else if (t.is_object()) {
        // `_orig` is the materializer's, unless a writer set a field of that
        // name (then of any shape): read it only where it is what we wrote.
        const auto o = doc.find("_orig");
        std::string orig =
            o != doc.end() && o->is_object() && o->contains(f) && (*o)[f].is_string() ? (*o)[f].get<std::string>() : "";
        for (const std::string& loc : {q.lang, orig, std::string("en")})
          if (!loc.empty() && t.contains(loc) && t[loc].is_string()) {
            h.title = t[loc].get<std::string>();
            break;
          }
        if (h.title.empty() && !t.empty() && t.begin()->is_string()) h.title = t.begin()->get<std::string>();
      }
      if (!h.title.empty()) break;
    }
    out.hits.push_back(std::move(h));
  }
  URBIS_RETURN_IF_ERROR(s.status());
  return out;
}

Result<Hash> Replica::Impl::state_hash(const SpaceId& sid) {
  URBIS_ASSIGN_OR_RETURN(SpaceRow space, find_space(sid));
  crypto_generichash_state st;
  crypto_generichash_init(&st, nullptr, 0, Hash::kSize);
  hash_str(st, "urbis/state/v1");
  {
    // A pending invite hashes its role + 8, then its expiry (a space without
    // invites hashes as it did before invites existed).
    Stmt s = db_->prepare("SELECT pk, role, invite_expires FROM authors WHERE space=? AND role>0 ORDER BY pk");
    s.bind(1, space.id);
    while (s.step()) {
      hash_str(st, to_hex(s.blob(0)));
      const auto expires = static_cast<uint64_t>(s.i64(2));
      hash_u64(st, static_cast<uint64_t>(s.i64(1)) + (expires ? 8 : 0));
      if (expires) hash_u64(st, expires);
    }
    URBIS_RETURN_IF_ERROR(s.status());
  }
  struct Row {
    int kind;
    std::string field, key, value, src;
    uint64_t hlc, seq;
    DeviceKey author;
    uint32_t index;
  };
  Stmt e = db_->prepare("SELECT id, eid, type FROM entities WHERE space=? ORDER BY eid");
  e.bind(1, space.id);
  std::vector<Row> rows;
  while (e.step()) {
    hash_str(st, to_hex(e.blob(1)));
    hash_str(st, e.str(2));
    rows.clear();
    Stmt v = db_->prepare(
        "SELECT v.kind, v.field, v.key, v.value, v.hlc, a.pk, v.src, v.op FROM vals v "
        "JOIN authors a ON a.id = (v.op >> 43) WHERE v.entity=?");
    v.bind(1, e.i64(0));
    while (v.step())
      rows.push_back({static_cast<int>(v.i64(0)), v.str(1), v.str(2), v.str(3), v.str(6),
                      static_cast<uint64_t>(v.i64(4)), op_seq(v.i64(7)), v.id<DeviceKey>(5), op_index(v.i64(7))});
    URBIS_RETURN_IF_ERROR(v.status());
    std::sort(rows.begin(), rows.end(), [](const Row& a, const Row& b) {
      return std::tie(a.kind, a.field, a.key, a.author, a.seq, a.index) <
             std::tie(b.kind, b.field, b.key, b.author, b.seq, b.index);
    });
    hash_u64(st, rows.size());
    for (const Row& r : rows) {
      hash_u64(st, static_cast<uint64_t>(r.kind));
      hash_str(st, r.field);
      hash_str(st, r.key);
      hash_str(st, r.value);
      hash_str(st, r.src);
      hash_u64(st, r.hlc);
      crypto_generichash_update(&st, r.author.bytes.data(), r.author.bytes.size());
      hash_u64(st, r.seq);
      hash_u64(st, r.index);
    }
  }
  URBIS_RETURN_IF_ERROR(e.status());
  Hash h;
  crypto_generichash_final(&st, h.bytes.data(), h.bytes.size());
  return h;
}

}  // namespace urbis
