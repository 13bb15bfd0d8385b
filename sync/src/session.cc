// The sync session state machine; the protocol is described in session.h and
// sync.proto. Frames are built and parsed here only; envelopes are read just
// far enough (their header's author and seq) to track what the peer holds.
#include "urbis/sync/session.h"

#include <sodium.h>

#include <algorithm>
#include <climits>
#include <map>
#include <string>
#include <utility>

#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/wire_format_lite.h>

#include "urbis/change.pb.h"
#include "urbis/sync.pb.h"

namespace urbis::sync {

namespace {

constexpr std::string_view kAuthDomain = "urbis/sync/v1/auth";
constexpr size_t kMaxPeerErrors = 64;

// What is signed in Auth: domain | signer's role | the challenge it answers.
Bytes auth_message(SessionRole signer_role, ByteView challenge) {
  Bytes m(kAuthDomain.begin(), kAuthDomain.end());
  m.push_back(signer_role == SessionRole::Client ? 'C' : 'S');
  m.insert(m.end(), challenge.begin(), challenge.end());
  return m;
}

template <typename Id>
std::string to_wire(const Id& id) {
  return std::string(reinterpret_cast<const char*>(id.bytes.data()), id.bytes.size());
}

// A code number from the wire: a known Code, else Internal.
Code code_from_wire(int32_t n) {
  switch (n) {
#define X(name, num, text) \
  case num:                \
    return Code::name;
#include "urbis/error_codes.def"
#undef X
    default: return Code::Internal;
  }
}

void fill_heads(const VersionVector& vv, google::protobuf::RepeatedPtrField<pb::AuthorSeq>* out) {
  for (const auto& [author, seq] : vv) {
    auto* h = out->Add();
    h->set_author(to_wire(author));
    h->set_seq(seq);
  }
}

std::optional<VersionVector> parse_heads(const google::protobuf::RepeatedPtrField<pb::AuthorSeq>& heads) {
  VersionVector vv;
  for (const auto& h : heads) {
    auto author = DeviceKey::from_string(h.author());
    if (!author) return std::nullopt;
    vv[*author] = std::max(vv[*author], h.seq());
  }
  return vv;
}

void merge_into(VersionVector& into, const DeviceKey& author, uint64_t seq) {
  auto& have = into[author];
  have = std::max(have, seq);
}

// (author, seq) of an envelope; nullopt when it does not parse.
std::optional<std::pair<DeviceKey, uint64_t>> position_of(const Bytes& envelope) {
  pb::Envelope e;
  if (!e.ParseFromArray(envelope.data(), static_cast<int>(envelope.size()))) return std::nullopt;
  pb::Header h;
  if (!h.ParseFromString(e.header())) return std::nullopt;
  auto author = DeviceKey::from_string(h.author());
  if (!author || h.seq() == 0) return std::nullopt;
  return std::make_pair(*author, h.seq());
}

// The header of an envelope; nullopt when either does not parse.
std::optional<pb::Header> header_of(const std::string& envelope) {
  pb::Envelope e;
  pb::Header h;
  if (!e.ParseFromString(envelope) || !h.ParseFromString(e.header())) return std::nullopt;
  return h;
}

// ----- the compact form of Changes (sync.proto, CompactEnvelope)

}  // namespace

// What a compact entry leaves out and the entries before it say (in its
// frame; in the session compact form, in the space's frames of the session
// so far): the author table; per author key, the seq and BLAKE2b-256 of its
// latest envelope; the previous entry's HLC and epoch. The sender keeps it
// as the receiver will.
struct CompactCodec {
  explicit CompactCodec(bool session_form = false) : session(session_form) {}
  std::vector<std::string> authors;       // the author table
  std::map<std::string, uint32_t> index;  // sender: author key -> its index in the table
  std::map<std::string, std::pair<uint64_t, std::string>> last;
  uint64_t hlc = 0;
  uint32_t epoch = 0;
  bool must_reset = false;  // sender: a frame built with it was not sent; the next one resets
  bool session = false;     // the session compact form (its HLC as hlc_ms and hlc_counter)
  void clear() { *this = CompactCodec(session); }
};

namespace {

std::string blake2b_256(const std::string& data) {
  std::string h(crypto_generichash_BYTES, '\0');
  crypto_generichash(reinterpret_cast<unsigned char*>(h.data()), h.size(),
                     reinterpret_cast<const unsigned char*>(data.data()), data.size(), nullptr, 0);
  return h;
}

bool whole_only(const pb::CompactEnvelope& c) {
  return c.author() == 0 && c.seq() == 0 && c.prev_hash().empty() && c.hlc() == 0 && c.hlc_ms() == 0 &&
         c.hlc_counter() == 0 && !c.has_epoch() && c.kind() == 0 && c.nonce().empty() && c.body().empty() &&
         c.signature().empty() && c.receipt().empty();
}

// An envelope rebuilt from a compact entry, and what it tells the entries
// after it (CompactCodec).
struct Rebuilt {
  std::string raw;
  bool whole = false;  // sent whole: tells the entries after it nothing
  std::string author;
  uint64_t seq = 0, hlc = 0;
  uint32_t epoch = 0;
};

void advance(CompactCodec& state, const Rebuilt& r) {
  if (r.whole) return;
  state.last[r.author] = {r.seq, blake2b_256(r.raw)};
  state.hlc = r.hlc;
  state.epoch = r.epoch;
}

// The exact envelope bytes of entry `c` of a compact frame of `space`
// (serialized id), after the entries that left `state` (its author table
// included). Malformed when the entry cannot be rebuilt. Built with
// protobuf's own serializer from known fields only, so the result is
// canonical by construction but for the receipt, checked by parsing and
// reserializing.
Result<Rebuilt> rebuild_envelope(const pb::CompactEnvelope& c, const std::string& space, const CompactCodec& state) {
  const std::vector<std::string>& authors = state.authors;
  auto malformed = [](const char* why) { return Status(Code::Malformed, why); };
  if (!c.envelope().empty()) {
    if (!whole_only(c)) return malformed("an envelope sent whole with other fields");
    Rebuilt whole;
    whole.raw = c.envelope();
    whole.whole = true;
    return whole;
  }
  if (c.author() >= static_cast<uint32_t>(authors.size())) return malformed("author index past the author table");
  const std::string& author = authors[c.author()];
  if (author.size() != DeviceKey{}.bytes.size()) return malformed("author key not of 32 bytes");
  uint64_t seq = c.seq();
  std::string prev = c.prev_hash();
  if (seq == 0) {
    auto it = state.last.find(author);
    if (it == state.last.end()) return malformed("seq left out, but no earlier change of its author");
    if (!prev.empty()) return malformed("prev_hash given with seq left out");
    seq = it->second.first + 1;
    prev = it->second.second;
  } else if (seq == 1 ? !prev.empty() : prev.size() != crypto_generichash_BYTES) {
    return malformed(seq == 1 ? "prev_hash given at seq 1" : "prev_hash missing or not of 32 bytes");
  }
  if (!pb::ChangeKind_IsValid(static_cast<int>(c.kind()))) return malformed("unknown change kind");
  uint64_t hlc = 0;
  if (state.session) {
    if (c.hlc() != 0) return malformed("hlc given in the session compact form");
    if (c.hlc_counter() > 0xffff) return malformed("hlc_counter past 16 bits");
    const uint64_t ms = (state.hlc >> 16) + static_cast<uint64_t>(c.hlc_ms());
    hlc = (ms << 16) | c.hlc_counter();
  } else {
    if (c.hlc_ms() != 0 || c.hlc_counter() != 0)
      return malformed("hlc_ms or hlc_counter outside the session compact form");
    hlc = state.hlc + static_cast<uint64_t>(c.hlc());
  }
  const uint32_t epoch = c.has_epoch() ? c.epoch() : state.epoch;
  pb::Header h;
  h.set_space(space);
  h.set_author(author);
  h.set_seq(seq);
  h.set_prev_hash(std::move(prev));
  h.set_hlc(hlc);
  h.set_epoch(epoch);
  h.set_kind(static_cast<pb::ChangeKind>(c.kind()));
  h.set_nonce(c.nonce());
  pb::Envelope e;
  e.set_header(h.SerializeAsString());
  e.set_body(c.body());
  e.set_signature(c.signature());
  if (!c.receipt().empty()) {
    pb::Receipt parsed;
    if (!parsed.ParseFromString(c.receipt())) return malformed("receipt does not parse");
    pb::Receipt* r = e.mutable_receipt();  // known fields only: unknown ones make it non-canonical
    r->set_witness(parsed.witness());
    r->set_time_ms(parsed.time_ms());
    r->set_signature(parsed.signature());
    if (r->SerializeAsString() != c.receipt()) return malformed("receipt not canonical");
  }
  Rebuilt out;
  out.raw = e.SerializeAsString();
  out.author = author;
  out.seq = seq;
  out.hlc = hlc;
  out.epoch = epoch;
  return out;
}

// Appends `envelope` to compact frame `c` (its space set): as a compact
// entry when that rebuilds to the same bytes, else whole (also when its
// author would grow `authors`, the keys in the tables of the session, past
// `max_authors`).
void add_compact(pb::Changes& c, const Bytes& envelope, CompactCodec& state, size_t& authors, size_t max_authors) {
  const std::string raw(envelope.begin(), envelope.end());
  pb::CompactEnvelope* entry = c.add_compact();
  pb::Envelope e;
  pb::Header h;
  if (e.ParseFromString(raw) && h.ParseFromString(e.header()) && h.space() == c.space() &&
      (state.index.contains(h.author()) || authors < max_authors)) {
    auto [it, fresh] = state.index.try_emplace(h.author(), static_cast<uint32_t>(state.authors.size()));
    if (fresh) {
      state.authors.push_back(h.author());
      c.add_authors(h.author());
      authors += 1;
    }
    entry->set_author(it->second);
    auto last = state.last.find(h.author());
    const bool chained =
        last != state.last.end() && h.seq() == last->second.first + 1 && h.prev_hash() == last->second.second;
    if (!chained) {
      entry->set_seq(h.seq());
      entry->set_prev_hash(h.prev_hash());
    }
    if (state.session) {
      entry->set_hlc_ms(static_cast<int64_t>((h.hlc() >> 16) - (state.hlc >> 16)));
      entry->set_hlc_counter(static_cast<uint32_t>(h.hlc() & 0xffff));
    } else {
      entry->set_hlc(static_cast<int64_t>(h.hlc() - state.hlc));
    }
    if (h.epoch() != state.epoch) entry->set_epoch(h.epoch());
    entry->set_kind(static_cast<uint32_t>(h.kind()));
    entry->set_nonce(h.nonce());
    entry->set_body(e.body());
    entry->set_signature(e.signature());
    if (e.has_receipt()) entry->set_receipt(e.receipt().SerializeAsString());
    auto back = rebuild_envelope(*entry, c.space(), state);
    if (back.is_ok() && back->raw == raw) {
      advance(state, *back);
      return;
    }
    if (fresh) {
      c.mutable_authors()->RemoveLast();
      state.authors.pop_back();
      state.index.erase(it);
      authors -= 1;
    }
  }
  entry->Clear();
  entry->set_envelope(raw);
}

// Every envelope of a compact Changes frame, rebuilt in order: on its own,
// or (`session`) in the session compact form, after the space's earlier
// frames that left `session`, which it advances; `*authors` counts the keys
// in all the tables of the session (at most kMaxSessionAuthors).
Result<std::vector<std::string>> rebuild_compact(const pb::Changes& changes, CompactCodec* session = nullptr,
                                                 size_t* authors = nullptr) {
  CompactCodec local;
  CompactCodec& state = session ? *session : local;
  if (changes.reset()) {
    if (!session) return Status(Code::Malformed, "Changes: reset outside the session compact form");
    *authors -= state.authors.size();
    state.clear();
  }
  if (session && *authors + static_cast<size_t>(changes.authors_size()) > kMaxSessionAuthors)
    return Status(Code::Malformed,
                  "Changes: the session's author tables would pass " + std::to_string(kMaxSessionAuthors) + " keys");
  // Each a key of 32 bytes, none twice in the table: the session form keeps
  // them for the whole session, so nothing else may be kept.
  for (const std::string& author : changes.authors()) {
    if (author.size() != DeviceKey{}.bytes.size())
      return Status(Code::Malformed, "Changes: an author key not of 32 bytes");
    if (!state.index.try_emplace(author, static_cast<uint32_t>(state.authors.size())).second)
      return Status(Code::Malformed, "Changes: an author key twice in the table");
    state.authors.push_back(author);
    if (session) *authors += 1;
  }
  std::vector<std::string> out;
  out.reserve(static_cast<size_t>(changes.compact_size()));
  for (int i = 0; i < changes.compact_size(); ++i) {
    auto rebuilt = rebuild_envelope(changes.compact(i), changes.space(), state);
    if (!rebuilt.is_ok())
      return Status(Code::Malformed, "Changes: compact envelope " + std::to_string(i) +
                                         " cannot be rebuilt: " + rebuilt.status().message());
    advance(state, *rebuilt);
    out.push_back(std::move(rebuilt->raw));
  }
  return out;
}

}  // namespace

Bytes error_frame(Code code, const std::string& message) {
  pb::Frame f;
  f.mutable_error()->set_code(static_cast<int32_t>(code));
  f.mutable_error()->set_message(message);
  Bytes b(f.ByteSizeLong());
  f.SerializeToArray(b.data(), static_cast<int>(b.size()));
  return b;
}

std::optional<FramePeek> peek_frame(ByteView frame) {
  using google::protobuf::io::CodedInputStream;
  using Wire = google::protobuf::internal::WireFormatLite;
  if (frame.size() > static_cast<size_t>(INT_MAX)) return std::nullopt;
  CodedInputStream in(frame.data(), static_cast<int>(frame.size()));
  const int total = static_cast<int>(frame.size());
  FramePeek peek;
  auto length_delimited = [](uint32_t tag) { return Wire::GetTagWireType(tag) == Wire::WIRETYPE_LENGTH_DELIMITED; };
  // Walks the body of the length-delimited field whose tag was just read,
  // calling on_field(tag) for each field inside (it reads or skips the field).
  auto message = [&](auto&& on_field) -> bool {
    uint32_t length = 0;
    if (!in.ReadVarint32(&length)) return false;
    if (length > static_cast<uint32_t>(total - in.CurrentPosition())) return false;  // runs past the frame
    const auto limit = in.PushLimit(static_cast<int>(length));
    while (const uint32_t tag = in.ReadTag())
      if (!on_field(tag)) return false;
    if (!in.ConsumedEntireMessage() || in.BytesUntilLimit() != 0) return false;
    in.PopLimit(limit);
    return true;
  };
  auto skip = [&](uint32_t tag) { return Wire::SkipField(&in, tag); };
  // A 16-byte space id (field `tag` just read); another length clears it.
  auto space = [&](uint32_t tag) -> bool {
    if (!length_delimited(tag)) return skip(tag);
    uint32_t length = 0;
    if (!in.ReadVarint32(&length)) return false;
    if (length != SpaceId{}.bytes.size()) {
      peek.space.reset();
      return in.Skip(static_cast<int>(std::min<uint32_t>(length, INT_MAX)));
    }
    SpaceId id;
    if (!in.ReadRaw(id.bytes.data(), static_cast<int>(id.bytes.size()))) return false;
    peek.space = id;
    return true;
  };
  // Counts the occurrences of field `counted` (length-delimited) in a message.
  auto count_field = [&](int counted, size_t& n) {
    return [&, counted](uint32_t tag) {
      if (Wire::GetTagFieldNumber(tag) == counted) n += 1;
      return skip(tag);
    };
  };
  while (const uint32_t tag = in.ReadTag()) {
    const int field = Wire::GetTagFieldNumber(tag);
    if (field < static_cast<int>(FrameKind::Hello) || field > static_cast<int>(FrameKind::Live) ||
        !length_delimited(tag)) {
      if (!skip(tag)) return std::nullopt;
      continue;
    }
    const auto kind = static_cast<FrameKind>(field);
    if (kind != peek.kind) peek.space.reset();  // a oneof keeps only the last member
    peek.kind = kind;
    bool ok = true;
    switch (kind) {
      case FrameKind::Changes:
        ok = message([&](uint32_t t) {
          const int number = Wire::GetTagFieldNumber(t);
          if (number == pb::Changes::kSpaceFieldNumber) return space(t);
          if (number == pb::Changes::kAuthorsFieldNumber) return count_field(number, peek.authors)(t);
          return count_field(number == pb::Changes::kCompactFieldNumber ? number : pb::Changes::kEnvelopesFieldNumber,
                             peek.envelopes)(t);
        });
        break;
      case FrameKind::Ack:
        ok = message([&](uint32_t t) {
          if (Wire::GetTagFieldNumber(t) == pb::Ack::kSpaceFieldNumber) return space(t);
          return count_field(pb::Ack::kHeadsFieldNumber, peek.heads)(t);
        });
        break;
      case FrameKind::Live:
        ok = message([&](uint32_t t) {
          if (Wire::GetTagFieldNumber(t) == pb::Live::kSpaceFieldNumber) return space(t);
          return skip(t);
        });
        break;
      case FrameKind::Want:
        ok = message([&](uint32_t t) {
          if (Wire::GetTagFieldNumber(t) != pb::Want::kSpacesFieldNumber || !length_delimited(t)) return skip(t);
          peek.spaces += 1;
          return message(count_field(pb::SpaceVersion::kHeadsFieldNumber, peek.heads));
        });
        break;
      case FrameKind::Error:
        ok = message([&](uint32_t t) {
          if (Wire::GetTagFieldNumber(t) == pb::Error::kCodeFieldNumber &&
              Wire::GetTagWireType(t) == Wire::WIRETYPE_VARINT) {
            uint32_t code = 0;
            if (!in.ReadVarint32(&code)) return false;
            peek.error_code = static_cast<int32_t>(code);
            return true;
          }
          return skip(t);
        });
        break;
      default:  // Hello, Auth: small and checked by size before the handshake
        ok = message(skip);
        break;
    }
    if (!ok) return std::nullopt;
  }
  if (!in.ConsumedEntireMessage()) return std::nullopt;
  return peek;
}

// Collects the frames one call produces, counting them.
class Session::Out {
 public:
  explicit Out(SessionCounters& counters) : counters_(counters) {}
  void send(const pb::Frame& frame) {
    Bytes b(frame.ByteSizeLong());
    frame.SerializeToArray(b.data(), static_cast<int>(b.size()));
    counters_.frames_out += 1;
    counters_.bytes_out += b.size();
    frames.push_back(std::move(b));
  }
  void error(Code code, const std::string& message, const SpaceId* space) {
    pb::Frame f;
    auto* e = f.mutable_error();
    e->set_code(static_cast<int32_t>(code));
    e->set_message(message);
    if (space) e->set_space(to_wire(*space));
    send(f);
  }
  std::vector<Bytes> frames;

 private:
  SessionCounters& counters_;
};

Bytes changes_frame(const SpaceId& space, const Bytes& envelope) {
  pb::Frame f;
  auto* c = f.mutable_changes();
  c->set_space(to_wire(space));
  c->add_envelopes(envelope.data(), envelope.size());
  Bytes out(f.ByteSizeLong());
  f.SerializeToArray(out.data(), static_cast<int>(out.size()));
  return out;
}

Result<std::vector<Bytes>> envelopes_of(const pb::Changes& changes) {
  std::vector<Bytes> out;
  if (changes.reset()) return Status(Code::Malformed, "Changes: reset outside the session compact form");
  if (changes.compact_size() == 0) {
    for (const std::string& e : changes.envelopes()) out.emplace_back(e.begin(), e.end());
    return out;
  }
  if (changes.envelopes_size() > 0) return Status(Code::Malformed, "Changes: both plain and compact envelopes");
  URBIS_ASSIGN_OR_RETURN(std::vector<std::string> rebuilt, rebuild_compact(changes));
  for (const std::string& e : rebuilt) out.emplace_back(e.begin(), e.end());
  return out;
}

Result<std::vector<Bytes>> ChangesReader::envelopes(const pb::Changes& changes) {
  if (!session_compact_) return envelopes_of(changes);
  if (changes.envelopes_size() > 0) {
    if (changes.compact_size() > 0 || changes.reset())
      return Status(Code::Malformed, "Changes: both plain and compact envelopes");
    std::vector<Bytes> out;
    for (const std::string& e : changes.envelopes()) out.emplace_back(e.begin(), e.end());
    return out;
  }
  auto& codec = spaces_[changes.space()];
  if (!codec) codec = std::make_shared<CompactCodec>(true);
  URBIS_ASSIGN_OR_RETURN(std::vector<std::string> rebuilt, rebuild_compact(changes, codec.get(), &authors_));
  std::vector<Bytes> out;
  for (const std::string& e : rebuilt) out.emplace_back(e.begin(), e.end());
  return out;
}

Signer Signer::of(const Identity& identity) {
  const Identity* id = &identity;
  return Signer{identity.device(), [id](ByteView message) { return id->sign(message); }};
}

std::string_view state_name(SessionState state) {
  switch (state) {
    case SessionState::Handshaking: return "handshaking";
    case SessionState::Authenticated: return "authenticated";
    case SessionState::CatchingUp: return "catching_up";
    case SessionState::Live: return "live";
    case SessionState::Failed: return "failed";
  }
  return "unknown";
}

Session::Session(Replica& replica, Env& env, std::optional<Signer> signer, SessionRole role,
                 std::vector<SpaceId> spaces, SessionOptions options)
    : replica_(replica),
      env_(env),
      signer_(std::move(signer)),
      role_(role),
      configured_(std::move(spaces)),
      options_(options) {
  if (sodium_init() < 0) {
    state_ = SessionState::Failed;
    failure_ = Status(Code::Internal, "libsodium failed to initialize");
  }
  options_.max_batches_in_flight = std::max<size_t>(options_.max_batches_in_flight, 1);
}

std::optional<DeviceKey> Session::peer_device() const { return peer_authenticated_ ? peer_device_ : std::nullopt; }

std::vector<SpaceId> Session::synced_spaces() const {
  std::vector<SpaceId> out;
  for (const auto& [space, s] : spaces_)
    if (s.peer_wanted) out.push_back(space);
  return out;
}

bool Session::session_compact() const {
  const uint32_t both = pb::FEATURE_COMPACT_CHANGES | pb::FEATURE_SESSION_COMPACT;
  return options_.compact_changes && options_.session_compact && (peer_features_ & both) == both;
}

std::vector<Bytes> Session::start() {
  Out out(counters_);
  if (started_ || state_ == SessionState::Failed) return {};
  started_ = true;
  env_.random_bytes(challenge_);
  pb::Frame f;
  auto* h = f.mutable_hello();
  h->set_version(kProtocolVersion);
  if (signer_) h->set_device(to_wire(signer_->device));
  h->set_challenge(challenge_.data(), challenge_.size());
  if (options_.compact_changes)
    h->set_features(pb::FEATURE_COMPACT_CHANGES | (options_.session_compact ? pb::FEATURE_SESSION_COMPACT : 0));
  out.send(f);
  return std::move(out.frames);
}

Reply Session::fail(Out& out, Code code, std::string message) {
  out.error(code, message, nullptr);
  state_ = SessionState::Failed;
  failure_ = Status(code, std::move(message));
  Reply r;
  r.frames = std::move(out.frames);
  r.status = failure_;
  return r;
}

Reply Session::receive(ByteView frame) {
  Out out(counters_);
  if (state_ == SessionState::Failed) {
    Reply r;
    r.status = failure_;
    return r;
  }
  counters_.frames_in += 1;
  counters_.bytes_in += frame.size();
  // Nothing is parsed before the limits are checked: the size first (a
  // few hundred bytes before authentication), then what the frame would
  // allocate, counted on the wire.
  const bool handshaking = state_ == SessionState::Handshaking;
  const size_t max_bytes =
      handshaking ? std::min(options_.max_handshake_frame_bytes, options_.max_frame_bytes) : options_.max_frame_bytes;
  if (frame.size() > max_bytes)
    return fail(out, Code::TooLarge,
                "frame of " + std::to_string(frame.size()) + " bytes exceeds the limit of " +
                    std::to_string(max_bytes) + (handshaking ? " before authentication" : ""));
  const std::optional<FramePeek> peek = peek_frame(frame);
  if (!peek) return fail(out, Code::Malformed, "frame does not parse");
  if (peek->kind == FrameKind::None) return fail(out, Code::Malformed, "frame carries no known message");
  const bool handshake =
      peek->kind == FrameKind::Hello || peek->kind == FrameKind::Auth || peek->kind == FrameKind::Error;
  if (!handshake && handshaking) return fail(out, Code::Forbidden, "frame before authentication");
  if (Status limits = check_limits(*peek, frame.size()); !limits.is_ok())
    return fail(out, limits.code(), limits.message());
  pb::Frame f;
  if (!f.ParseFromArray(frame.data(), static_cast<int>(frame.size())))
    return fail(out, Code::Malformed, "frame does not parse");
  if (f.msg_case() == pb::Frame::MSG_NOT_SET) return fail(out, Code::Malformed, "frame carries no known message");

  // What the host learns of the frame (Reply).
  Reply done;
  done.kind = peek->kind;
  done.space = peek->space;
  auto heads_of = [&](const std::string& space_bytes, const auto& heads) {
    auto space = SpaceId::from_string(space_bytes);
    if (!space) return;
    VersionVector vv;
    for (const auto& h : heads)
      if (auto author = DeviceKey::from_string(h.author())) vv[*author] = std::max(vv[*author], h.seq());
    done.heads.emplace_back(*space, std::move(vv));
  };
  if (f.has_want())
    for (const auto& sv : f.want().spaces()) heads_of(sv.space(), sv.heads());
  if (f.has_ack()) heads_of(f.ack().space(), f.ack().heads());
  const uint64_t received_before = counters_.changes_received;

  Status s;
  switch (f.msg_case()) {
    case pb::Frame::kHello: s = handle_hello(f.hello(), out); break;
    case pb::Frame::kAuth: s = handle_auth(f.auth(), out); break;
    case pb::Frame::kWant: s = handle_want(f.want(), out); break;
    case pb::Frame::kChanges: s = handle_changes(f.changes(), out); break;
    case pb::Frame::kAck: s = handle_ack(f.ack(), out); break;
    case pb::Frame::kLive: {
      auto space = SpaceId::from_string(f.live().space());
      if (!space) return fail(out, Code::Malformed, "Live: bad space id");
      if (auto it = spaces_.find(*space); it != spaces_.end() && !it->second.peer_live) {
        it->second.peer_live = true;
        on_peer_live(*space, out);
      }
      break;
    }
    case pb::Frame::kError: {
      const auto& e = f.error();
      // An Error frame is a failure whatever code it carries: code 0 (Ok)
      // from a hostile peer must not read as success anywhere.
      Code code = code_from_wire(e.code());
      if (code == Code::Ok) code = Code::Internal;
      Status peer(code, "peer: " + e.message());
      if (e.space().empty()) {
        // The peer is closing: nothing to send back.
        state_ = SessionState::Failed;
        failure_ = peer;
        done.status = failure_;
        return done;
      }
      done.peer_error = peer;
      done.space = SpaceId::from_string(e.space());
      if (peer_errors_.size() == kMaxPeerErrors) peer_errors_.erase(peer_errors_.begin());
      peer_errors_.push_back(std::move(peer));
      // The peer declined a space we proposed: stop waiting for it.
      if (auto space = SpaceId::from_string(e.space())) {
        auto it = spaces_.find(*space);
        if (it != spaces_.end() && !it->second.peer_wanted) spaces_.erase(it);
      }
      break;
    }
    case pb::Frame::MSG_NOT_SET: break;  // refused above
  }
  if (!s.is_ok()) return fail(out, s.code(), s.message());
  update_state();
  done.frames = std::move(out.frames);
  done.stored = counters_.changes_received - received_before;
  return done;
}

// ---------------------------------------------------------------- handshake

Status Session::handle_hello(const pb::Hello& hello, Out& out) {
  if (got_hello_) return Status(Code::Malformed, "second Hello");
  if (hello.version() != kProtocolVersion) {
    // Read at both ends (the refusing side's log, the peer's error), so the
    // sides are named by role, not "this" and "peer"; the older one upgrades.
    const uint32_t theirs = hello.version();
    const char* self = role_ == SessionRole::Server ? "server" : "client";
    const char* peer = role_ == SessionRole::Server ? "client" : "server";
    std::string message = "unsupported protocol version ";
    message += std::to_string(theirs);
    message += " (the ";
    message += peer;
    message += "'s): the ";
    message += self;
    message += " speaks protocol version ";
    message += std::to_string(kProtocolVersion);
    message += " only; upgrade the ";
    message += theirs > kProtocolVersion ? self : peer;
    message += " to a release that speaks version ";
    message += std::to_string(std::max(theirs, kProtocolVersion));
    return Status(Code::InvalidArgument, std::move(message));
  }
  if (hello.challenge().size() != challenge_.size())
    return Status(Code::Malformed, "Hello: challenge must be 32 bytes");
  if (!hello.device().empty()) {
    peer_device_ = DeviceKey::from_string(hello.device());
    if (!peer_device_) return Status(Code::Malformed, "Hello: bad device key");
  } else if (role_ == SessionRole::Server) {
    return Status(Code::Forbidden, "a client must present a device key");
  }
  got_hello_ = true;
  peer_features_ = hello.features();
  std::copy(hello.challenge().begin(), hello.challenge().end(), peer_challenge_.begin());
  if (signer_) {
    pb::Frame f;
    auto* a = f.mutable_auth();
    a->set_device(to_wire(signer_->device));
    auto sig = signer_->sign(auth_message(role_, peer_challenge_));
    a->set_signature(sig.data(), sig.size());
    out.send(f);
  }
  after_handshake_step(out);
  return Status::ok();
}

Status Session::handle_auth(const pb::Auth& auth, Out& out) {
  if (!got_hello_ || !peer_device_ || peer_authenticated_) return Status(Code::Malformed, "unexpected Auth");
  if (DeviceKey::from_string(auth.device()) != peer_device_)
    return Status(Code::BadSignature, "Auth: device differs from Hello");
  if (auth.signature().size() != crypto_sign_BYTES) return Status(Code::Malformed, "Auth: signature must be 64 bytes");
  const SessionRole peer_role = role_ == SessionRole::Client ? SessionRole::Server : SessionRole::Client;
  Bytes message = auth_message(peer_role, challenge_);
  if (crypto_sign_verify_detached(reinterpret_cast<const unsigned char*>(auth.signature().data()), message.data(),
                                  message.size(), peer_device_->bytes.data()) != 0)
    return Status(Code::BadSignature, "Auth: signature does not verify");
  peer_authenticated_ = true;
  after_handshake_step(out);
  return Status::ok();
}

// Completes the handshake once both Hellos and the needed Auths are in; the
// client then states what it holds.
void Session::after_handshake_step(Out& out) {
  if (state_ != SessionState::Handshaking || !got_hello_) return;
  if (peer_device_ && !peer_authenticated_) return;  // wait for the peer's Auth
  state_ = SessionState::Authenticated;
  if (role_ != SessionRole::Client) return;

  std::vector<SpaceId> mine = configured_;
  if (options_.discover) {
    if (auto held = replica_.spaces(); held.is_ok()) {
      for (const SpaceInfo& info : *held) {
        if (std::find(mine.begin(), mine.end(), info.id) != mine.end()) continue;
        if (options_.withheld && options_.withheld(info.id)) continue;
        // Left behind by a session that ended before an unsolicited space
        // was judged: a space whose log never made this device a member is
        // not kept (a former member keeps what it held).
        auto member = replica_.member_by_log(info.id, replica_.device());
        if (!options_.keep_unsolicited_spaces && member.is_ok() && !*member) {
          if (replica_.drop_space(info.id).is_ok()) {
            counters_.spaces_dropped += 1;
            dropped_order_.push_back(info.id);
          }
          continue;
        }
        mine.push_back(info.id);
      }
    } else {
      out.error(held.code(), held.status().message(), nullptr);
    }
  }
  pb::Frame f;
  auto* want = f.mutable_want();
  want->set_discover(options_.discover);
  for (const SpaceId& space : mine) {
    auto vv = replica_.version_vector(space);
    if (!vv.is_ok() && vv.code() != Code::UnknownSpace) {
      out.error(vv.code(), vv.status().message(), &space);
      continue;
    }
    auto* sv = want->add_spaces();
    sv->set_space(to_wire(space));
    if (vv.is_ok()) fill_heads(*vv, sv->mutable_heads());
    spaces_[space].sent_want = true;  // synced once the server's Want lists it
  }
  out.send(f);
  state_ = SessionState::CatchingUp;
}

// ---------------------------------------------------------------- catch-up

// The repeated fields a frame would allocate, against the limits.
Status Session::check_limits(const FramePeek& peek, size_t frame_bytes) const {
  auto too_large = [&](const char* what, size_t n, size_t limit) {
    return Status(Code::TooLarge, std::string(what) + " " + std::to_string(n) + " exceeds the limit of " +
                                      std::to_string(limit) + " (frame of " + std::to_string(frame_bytes) + " bytes)");
  };
  if (peek.envelopes > options_.max_envelopes_per_frame)
    return too_large("Changes: envelopes", peek.envelopes, options_.max_envelopes_per_frame);
  if (peek.authors > options_.max_envelopes_per_frame)
    return too_large("Changes: authors", peek.authors, options_.max_envelopes_per_frame);
  if (peek.spaces > options_.max_spaces) return too_large("Want: spaces", peek.spaces, options_.max_spaces);
  if (peek.kind == FrameKind::Ack && peek.heads > options_.max_envelopes_per_frame)
    return too_large("Ack: heads", peek.heads, options_.max_envelopes_per_frame);
  if (peek.heads > options_.max_heads_per_frame)
    return too_large("Want: heads", peek.heads, options_.max_heads_per_frame);
  return Status::ok();
}

bool Session::peer_trusted() const {
  if (!peer_device_ || !peer_authenticated_) return false;
  const auto& trusted = options_.trusted_peers;
  return std::find(trusted.begin(), trusted.end(), *peer_device_) != trusted.end();
}

// Server: may the authenticated peer sync `space` (a member with any role, or
// a trusted peer node)? Re-checked on every batch.
bool Session::peer_may_sync(const SpaceId& space) {
  if (!peer_device_ || !peer_authenticated_) return false;
  if (peer_trusted()) return true;
  auto role = replica_.member_role(space, *peer_device_);
  return role.is_ok() && *role != Role::None;
}

// Server: the creation policy (SessionOptions::open_spaces). Decided once per
// session: a stranger repeating Wants for new spaces costs one look-up (one
// indexed query, not one per space held: a node holding a million spaces
// would spend seconds of its only thread on every stranger's session).
bool Session::peer_may_create_spaces() {
  if (!peer_device_ || !peer_authenticated_) return false;
  if (!may_create_) {
    const auto& creators = options_.space_creators;
    bool may = options_.open_spaces || peer_trusted() ||
               std::find(creators.begin(), creators.end(), *peer_device_) != creators.end();
    if (!may) {
      auto member = replica_.member_of_any(*peer_device_);
      may = member.is_ok() && *member;
    }
    may_create_ = may;
  }
  return *may_create_;
}

bool Session::judging(const SpaceId& space) const {
  auto it = spaces_.find(space);
  return it != spaces_.end() && it->second.unsolicited;
}

std::vector<SpaceId> Session::judging_spaces() const {
  std::vector<SpaceId> out;
  for (const auto& [space, sync] : spaces_)
    if (sync.unsolicited) out.push_back(space);
  return out;
}

// The peer has sent every change of `space` it held at its Want.
void Session::on_peer_live(const SpaceId& space, Out& out) {
  auto it = spaces_.find(space);
  if (it == spaces_.end() || role_ != SessionRole::Client) return;
  SpaceSync& sync = it->second;
  if (sync.unsolicited) {
    // All of it is here: keep it only if its log makes this device a member.
    sync.unsolicited = false;
    auto role = replica_.member_role(space, replica_.device());
    if (!role.is_ok() || *role == Role::None) {
      Status dropped = replica_.drop_space(space);
      if (!dropped.is_ok() && dropped.code() != Code::UnknownSpace) {
        out.error(dropped.code(), dropped.message(), &space);
      } else {
        out.error(Code::NotAMember, "this device is no member of the space it was offered; not kept", &space);
      }
      counters_.spaces_dropped += 1;
      dropped_.insert(space);
      dropped_order_.push_back(space);
      spaces_.erase(it);
      return;
    }
  }
  // The node that served this space is the default witness of its invites
  // (Replica::create_invite): remembered only now, so a node that merely
  // authenticated (one that refused the space, a mistyped URL) never dates
  // the redeems of the admin's next invites. Best effort: a store that
  // cannot record it still syncs.
  if (peer_device_ && peer_authenticated_) (void)replica_.remember_node(*peer_device_, space);
  distrust_unproven(space, sync);
  pump(space, sync, out);
}

// Client: heads the peer claimed above what this replica holds once the peer
// is caught up are unproven (it would have sent those changes); the session
// then sends that author's whole chain, since the peer may hold none of it.
void Session::distrust_unproven(const SpaceId& space, SpaceSync& sync) {
  auto have = replica_.version_vector(space);
  if (!have.is_ok()) return;
  for (auto& [author, seq] : sync.peer_vv) {
    auto mine = have->find(author);
    const uint64_t held = mine == have->end() ? 0 : mine->second;
    if (seq > held) {
      seq = 0;
      counters_.claims_distrusted += 1;
    }
  }
}

// Whether this side offers `space` to the peer unasked: a discovering client
// offers everything it holds; a server offers what the peer may sync, if the
// peer asked for discovery.
bool Session::offers(const SpaceId& space) {
  if (!configured_.empty() && role_ == SessionRole::Server &&
      std::find(configured_.begin(), configured_.end(), space) == configured_.end())
    return false;
  if (role_ == SessionRole::Client) return options_.discover && !(options_.withheld && options_.withheld(space));
  return peer_discovers_ && peer_may_sync(space);
}

// Sends a Want for one space not yet synced in this session.
void Session::propose(const SpaceId& space, Out& out) {
  auto vv = replica_.version_vector(space);
  if (!vv.is_ok()) return;  // gone or unreadable: nothing to offer
  pb::Frame f;
  auto* sv = f.mutable_want()->add_spaces();
  sv->set_space(to_wire(space));
  fill_heads(*vv, sv->mutable_heads());
  out.send(f);
  spaces_[space].sent_want = true;
}

// Proposes every space of the replica not yet synced that this side offers.
void Session::propose_new_spaces(Out& out) {
  if (role_ == SessionRole::Client ? !options_.discover : !peer_discovers_) return;
  auto held = replica_.spaces();
  if (!held.is_ok()) return;
  for (const SpaceInfo& info : *held)
    if (!spaces_.count(info.id) && offers(info.id)) propose(info.id, out);
}

Status Session::handle_want(const pb::Want& want, Out& out) {
  if (role_ == SessionRole::Client && state_ != SessionState::CatchingUp && state_ != SessionState::Live)
    return Status(Code::Forbidden, "Want before the client's Want");
  const bool first = !got_want_;
  got_want_ = true;
  if (role_ == SessionRole::Server && first) peer_discovers_ = want.discover();

  std::vector<std::pair<SpaceId, VersionVector>> wanted;
  for (const auto& sv : want.spaces()) {
    auto space = SpaceId::from_string(sv.space());
    auto heads = parse_heads(sv.heads());
    if (!space || !heads) return Status(Code::Malformed, "Want: bad space id or author key");
    wanted.emplace_back(*space, std::move(*heads));
  }

  // Whether every space in it is one we proposed and it agrees to.
  bool agreement_only = !first && want.spaces_size() > 0;
  for (const auto& entry : wanted) {
    auto it = spaces_.find(entry.first);
    agreement_only &= it != spaces_.end() && it->second.sent_want && !it->second.peer_wanted;
  }

  // Our answer: a Want for each accepted space we have not proposed yet.
  pb::Frame answer;
  auto* mine = answer.mutable_want();
  std::vector<SpaceId> accepted;
  for (auto& [space, vv] : wanted) {
    auto it = spaces_.find(space);
    if (it != spaces_.end() && it->second.peer_wanted) {
      // Already synced: a repeat restates what the peer holds; stream from
      // there, within the same window (a repeated Want queues nothing more).
      it->second.peer_vv = std::move(vv);
      accepted.push_back(space);
      continue;
    }
    const bool proposed = it != spaces_.end() && it->second.sent_want;
    auto have = replica_.version_vector(space);
    if (!have.is_ok() && have.code() != Code::UnknownSpace) {
      out.error(have.code(), have.status().message(), &space);
      continue;
    }
    bool seeding = false, unsolicited = false;
    if (role_ == SessionRole::Client) {
      // Spaces we asked for, or (discovering) any space the server offers.
      if (!proposed && !options_.discover) {
        out.error(Code::UnknownSpace, "this client does not sync the space", &space);
        continue;
      }
      if (dropped_.count(space)) {
        out.error(Code::NotAMember, "this device is no member of the space; it was not kept", &space);
        continue;
      }
      unsolicited = !proposed && !have.is_ok() && !options_.keep_unsolicited_spaces;
    } else {
      if (!configured_.empty() && std::find(configured_.begin(), configured_.end(), space) == configured_.end()) {
        out.error(Code::UnknownSpace, "this server does not sync the space", &space);
        continue;
      }
      if (have.is_ok() && !peer_may_sync(space)) {
        out.error(Code::NotAMember, "device is not a member of the space", &space);
        continue;
      }
      seeding = !have.is_ok();  // the client may hold the space's genesis
      if (seeding && !peer_may_create_spaces()) {
        out.error(Code::Forbidden, "this node does not hold the space and does not take new spaces from this device",
                  &space);
        continue;
      }
    }
    SpaceSync& sync = spaces_[space];
    sync.peer_wanted = true;
    sync.seeding = seeding;
    sync.unsolicited = unsolicited;
    sync.peer_vv = std::move(vv);
    if (!sync.sent_want) {
      auto* sv = mine->add_spaces();
      sv->set_space(to_wire(space));
      if (have.is_ok()) fill_heads(*have, sv->mutable_heads());
      sync.sent_want = true;
    }
    accepted.push_back(space);
  }

  if (role_ == SessionRole::Client && first) {
    // The answer to our first Want: a space it does not list was refused.
    std::erase_if(spaces_, [](const auto& entry) { return !entry.second.peer_wanted; });
  }
  if (role_ == SessionRole::Server && first && peer_discovers_) {
    // Discovery: offer what the client did not name.
    if (auto held = replica_.spaces(); held.is_ok()) {
      for (const SpaceInfo& info : *held) {
        if (spaces_.count(info.id) || !offers(info.id)) continue;
        auto have = replica_.version_vector(info.id);
        if (!have.is_ok()) continue;
        auto* sv = mine->add_spaces();
        sv->set_space(to_wire(info.id));
        fill_heads(*have, sv->mutable_heads());
        spaces_[info.id].sent_want = true;
      }
    }
  }
  size_t synced = 0;
  for (const auto& entry : spaces_) synced += entry.second.peer_wanted ? 1 : 0;
  if (synced > options_.max_spaces)
    return Status(Code::TooLarge, "the session syncs more than " + std::to_string(options_.max_spaces) + " spaces");
  // The server answers every Want of the client that asks for something (it
  // tells which spaces were agreed, possibly none); the client's agreement
  // to spaces the server proposed, like any client answer, needs none.
  if ((role_ == SessionRole::Server && !agreement_only) || mine->spaces_size() > 0) out.send(answer);
  for (const SpaceId& space : accepted) pump(space, spaces_[space], out);
  if (state_ == SessionState::Authenticated) state_ = SessionState::CatchingUp;
  return Status::ok();
}

// Sends what the peer lacks of `space`, one changes_since batch at a time,
// while the window allows; then, once, the Live marker.
void Session::pump(const SpaceId& space, SpaceSync& sync, Out& out) {
  if (!sync.peer_wanted) return;
  // Re-checked on every push: a member removed mid-session stops receiving.
  if (role_ == SessionRole::Server && !sync.seeding && !peer_may_sync(space)) return;
  while (sync.in_flight < options_.max_batches_in_flight) {
    auto batch = replica_.changes_since(space, sync.peer_vv, options_.max_batch_bytes);
    if (!batch.is_ok() && batch.code() != Code::UnknownSpace) {
      out.error(batch.code(), batch.status().message(), &space);
      return;
    }
    if (!batch.is_ok() || batch->empty()) {
      if (!sync.sent_live) {
        pb::Frame f;
        f.mutable_live()->set_space(to_wire(space));
        out.send(f);
        sync.sent_live = true;
      }
      return;
    }
    // A seeding client gets the space's changes only once it is a member.
    if (role_ == SessionRole::Server && sync.seeding && !peer_may_sync(space)) return;
    pb::Frame f;
    auto* c = f.mutable_changes();
    c->set_space(to_wire(space));
    const bool compact = options_.compact_changes && (peer_features_ & pb::FEATURE_COMPACT_CHANGES) != 0;
    CompactCodec frame_codec;
    CompactCodec* codec = &frame_codec;
    size_t frame_authors = 0;
    size_t* authors = &frame_authors;
    size_t max_authors = SIZE_MAX;
    if (compact && session_compact()) {
      auto& held = sent_codecs_[space];
      if (!held) held = std::make_shared<CompactCodec>(true);
      codec = held.get();
      authors = &sent_authors_;
      max_authors = kMaxSessionAuthors;
      // A space starts its table over when the batch's new authors would
      // not fit in the session's tables (those that still do not then
      // travel whole), or after a frame that was not sent.
      std::set<DeviceKey> fresh;
      for (const Bytes& env : *batch)
        if (auto pos = position_of(env); pos && !codec->index.contains(to_wire(pos->first))) fresh.insert(pos->first);
      if (codec->must_reset || sent_authors_ + fresh.size() > kMaxSessionAuthors) {
        sent_authors_ -= codec->authors.size();
        codec->clear();
        c->set_reset(true);
      }
    }
    bool progressed = false;
    for (const Bytes& env : *batch) {
      auto pos = position_of(env);
      if (pos) {
        auto& have = sync.peer_vv[pos->first];
        progressed |= pos->second > have;
        have = std::max(have, pos->second);
      }
      if (compact)
        add_compact(*c, env, *codec, *authors, max_authors);
      else
        c->add_envelopes(env.data(), env.size());
    }
    if (!progressed) {              // cannot happen with a sound store; never loop on it
      if (codec != &frame_codec) {  // this frame is not sent: the peer's state did not move
        sent_authors_ -= codec->authors.size();
        codec->clear();
        codec->must_reset = true;
      }
      out.error(Code::Internal, "stored changes do not advance the peer's vector", &space);
      sync.peer_wanted = false;
      return;
    }
    counters_.changes_sent += batch->size();
    sync.in_flight += 1;
    out.send(f);
  }
}

Status Session::handle_changes(const pb::Changes& changes, Out& out) {
  auto space = SpaceId::from_string(changes.space());
  if (!space) return Status(Code::Malformed, "Changes: bad space id");
  // The envelopes' exact bytes: as sent, or rebuilt from the compact form,
  // all of them before anything is applied (a frame that does not rebuild
  // is refused whole).
  std::vector<std::string> rebuilt;
  std::vector<const std::string*> received;
  if (changes.compact_size() > 0 || changes.reset()) {
    if (changes.envelopes_size() > 0) return Status(Code::Malformed, "Changes: both plain and compact envelopes");
    // The session compact form runs on in the space's state of this
    // session, whatever becomes of the frame (the sender's state moved
    // when it sent it); at most max_spaces such states.
    // Kept only for a space this side sent a Want for (an honest peer
    // sends no other); another's frame is read alone (and refused below).
    CompactCodec* codec = nullptr;
    CompactCodec unasked(true);
    size_t unasked_authors = 0;
    size_t* authors = &read_authors_;
    if (session_compact()) {
      auto held = read_codecs_.find(*space);
      if (held == read_codecs_.end()) {
        if (auto s = spaces_.find(*space); s != spaces_.end() && s->second.sent_want)
          held = read_codecs_.emplace(*space, std::make_shared<CompactCodec>(true)).first;
      }
      if (held != read_codecs_.end()) {
        codec = held->second.get();
      } else {
        codec = &unasked;
        authors = &unasked_authors;
      }
    }
    URBIS_ASSIGN_OR_RETURN(rebuilt, rebuild_compact(changes, codec, authors));
    for (const std::string& e : rebuilt) received.push_back(&e);
  } else {
    for (const std::string& e : changes.envelopes()) received.push_back(&e);
  }
  auto it = spaces_.find(*space);
  if (it == spaces_.end() || !it->second.peer_wanted) {
    counters_.changes_refused += received.size();
    out.error(role_ == SessionRole::Server ? Code::NotAMember : Code::InvalidArgument,
              "changes for a space not synced in this session", &*space);
    return Status::ok();
  }
  SpaceSync& sync = it->second;
  pb::Frame ack;
  ack.mutable_ack()->set_space(changes.space());

  if (role_ == SessionRole::Server && !sync.seeding && !peer_may_sync(*space)) {
    counters_.changes_refused += received.size();
    out.error(Code::NotAMember, "device is not a member of the space", &*space);
    out.send(ack);
    return Status::ok();
  }

  // One Error frame per refusal code, so a bad batch cannot multiply frames.
  std::map<Code, std::pair<size_t, std::string>> refused;
  // Only envelopes of the space the frame names: membership was checked for
  // that space, not for whatever space an envelope's header claims.
  std::vector<Bytes> envelopes;
  envelopes.reserve(received.size());
  std::optional<pb::Header> first;
  for (const std::string* ep : received) {
    const std::string& e = *ep;
    auto h = header_of(e);
    // Refused here, not left to apply: every check below reads the header,
    // and an envelope they cannot read must not pass them by default.
    if (!h) {
      counters_.changes_refused += 1;
      auto& entry = refused[Code::Malformed];
      if (entry.first++ == 0) entry.second = "envelope does not parse";
      continue;
    }
    if (h->space() != changes.space()) {
      counters_.changes_refused += 1;
      auto& entry = refused[Code::InvalidArgument];
      if (entry.first++ == 0) entry.second = "a change of another space than the frame names";
      continue;
    }
    // A device's own changes must count when it sends them: a node keeps a
    // member's change that does not count only when another member relays it
    // (every replica keeps the same log, docs/membership.md), never straight
    // from a device its role does not let write it.
    if (role_ == SessionRole::Server && peer_device_ && !peer_trusted() &&
        h->author() == std::string(reinterpret_cast<const char*>(peer_device_->bytes.data()), 32)) {
      if (Status may = replica_.check_own_change(Bytes(e.begin(), e.end())); !may.is_ok()) {
        counters_.changes_refused += 1;
        auto& entry = refused[may.code()];
        if (entry.first++ == 0) entry.second = may.message();
        continue;
      }
    }
    if (envelopes.empty()) first = std::move(h);
    envelopes.emplace_back(e.begin(), e.end());
  }
  // A node witnesses the redeems of invites that name it (the receipt dates
  // the redeem for every replica); the receipted envelope is what it stores,
  // and it goes back to the redeemer, whose copy has no receipt.
  std::vector<size_t> witnessed;
  if (role_ == SessionRole::Server && signer_) {
    for (size_t i = 0; i < envelopes.size(); ++i) {
      auto w = replica_.witness_redeem(envelopes[i], signer_->device, signer_->sign);
      if (!w.is_ok()) {
        counters_.changes_refused += 1;
        auto& entry = refused[w.code()];
        if (entry.first++ == 0) entry.second = w.status().message();
        envelopes.erase(envelopes.begin() + static_cast<long>(i--));
      } else if (*w) {
        envelopes[i] = std::move(**w);
        witnessed.push_back(i);
      }
    }
  }
  // A space this replica does not hold is created only by its genesis, and
  // (but by a trusted peer) only by the genesis of the peer itself: its
  // creator (a space id derives from its creator's key), never a client
  // relaying another device's genesis. The genesis goes alone first; if it
  // is refused, nothing else may create the space.
  std::vector<Result<ApplyOutcome>> results;
  if (role_ == SessionRole::Server && sync.seeding && !peer_trusted() && !envelopes.empty() &&
      replica_.version_vector(*space).code() == Code::UnknownSpace) {
    // The first change, the peer's own, goes alone: the core creates the
    // space only from a valid genesis (and refuses anything else with
    // UnknownSpace).
    const bool own = first && DeviceKey::from_string(first->author()) == peer_device_;
    if (own) results = replica_.apply_batch({envelopes.front()});
    const bool created = own && results.front().is_ok();
    const Status refusal =
        own ? Status(Code::UnknownSpace, "the space does not exist here: its first change was refused")
            : Status(Code::Forbidden, "a space this node does not hold is created only by its creator's own genesis");
    for (size_t i = results.size(); i < envelopes.size() && !created; ++i) results.push_back(refusal);
    if (created) {
      const std::vector<Bytes> rest(envelopes.begin() + 1, envelopes.end());
      for (auto& r : replica_.apply_batch(rest)) results.push_back(std::move(r));
    }
  } else {
    results = replica_.apply_batch(envelopes);
  }
  for (size_t i : witnessed) {
    if (!results[i].is_ok()) continue;
    Bytes frame = changes_frame(*space, envelopes[i]);
    counters_.frames_out += 1;
    counters_.bytes_out += frame.size();
    counters_.changes_sent += 1;
    sync.in_flight += 1;  // the peer acknowledges it like any batch
    out.frames.push_back(std::move(frame));
  }

  std::vector<DeviceKey> authors;
  for (size_t i = 0; i < results.size(); ++i) {
    const auto& r = results[i];
    if (!r.is_ok()) {
      counters_.changes_refused += 1;
      auto& entry = refused[r.code()];
      if (entry.first++ == 0) entry.second = r.status().message();
      continue;
    }
    if (*r == ApplyOutcome::Duplicate)
      counters_.changes_duplicate += 1;
    else
      counters_.changes_received += 1;
    if (auto pos = position_of(envelopes[i])) {
      merge_into(sync.peer_vv, pos->first, pos->second);
      authors.push_back(pos->first);
    }
  }
  for (const auto& [code, entry] : refused) {
    std::string message = std::to_string(entry.first) + " change(s) refused; first: " + entry.second;
    if (refusals_.size() == kMaxPeerErrors) refusals_.erase(refusals_.begin());
    refusals_.emplace_back(code, message);
    out.error(code, message, &*space);
  }

  if (auto vv = replica_.version_vector(*space); vv.is_ok()) {
    VersionVector heads;
    for (const DeviceKey& a : authors)
      if (auto h = vv->find(a); h != vv->end()) heads[a] = h->second;
    fill_heads(heads, ack.mutable_ack()->mutable_heads());
  }
  out.send(ack);
  return Status::ok();
}

Status Session::handle_ack(const pb::Ack& ack, Out& out) {
  auto space = SpaceId::from_string(ack.space());
  auto heads = parse_heads(ack.heads());
  if (!space || !heads) return Status(Code::Malformed, "Ack: bad space id or author key");
  auto it = spaces_.find(*space);
  if (it == spaces_.end()) return Status::ok();
  SpaceSync& sync = it->second;
  if (sync.in_flight > 0) sync.in_flight -= 1;
  // The heads are not believed: what the peer holds is known from its Want
  // and from what this session sent (pump), and a peer that claims more
  // could make the session skip changes it never received.
  pump(*space, sync, out);
  return Status::ok();
}

// ---------------------------------------------------------------- live

std::vector<Bytes> Session::on_local_change(const SpaceId& space) {
  Out out(counters_);
  if (state_ != SessionState::CatchingUp && state_ != SessionState::Live) return {};
  if (auto it = spaces_.find(space); it != spaces_.end()) {
    pump(space, it->second, out);
  } else if (got_want_ && offers(space)) {
    propose(space, out);
  }
  update_state();
  return std::move(out.frames);
}

std::vector<Bytes> Session::poll() {
  Out out(counters_);
  if (state_ != SessionState::CatchingUp && state_ != SessionState::Live) return {};
  for (auto& [space, sync] : spaces_) pump(space, sync, out);
  if (got_want_) propose_new_spaces(out);
  update_state();
  return std::move(out.frames);
}

// CatchingUp <-> Live: Live while every space proposed has been agreed and
// every agreed space is caught up both ways (a new proposal reopens catch-up).
void Session::update_state() {
  if ((state_ != SessionState::CatchingUp && state_ != SessionState::Live) || !got_want_) return;
  bool live = true;
  for (const auto& [space, sync] : spaces_) {
    if (sync.sent_want && !sync.peer_wanted) live = false;
    if (sync.peer_wanted && !(sync.sent_live && sync.peer_live)) live = false;
  }
  state_ = live ? SessionState::Live : SessionState::CatchingUp;
}

}  // namespace urbis::sync
