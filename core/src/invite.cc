// Invites (invite.h): the code format, the invite's key pair, and the
// replica's side: create_invite (an admin's membership change) and
// redeem_invite (the invite key's one change, built but not stored). The
// rules every replica applies to a redeem are in replica.cc, check_redeem.
#include "urbis/invite.h"

#include <sodium.h>

#include <cctype>
#include <cstring>

#include "envelope_codec.h"
#include "replica_impl.h"
#include "urbis/envelope.h"

namespace urbis {
namespace {

constexpr char kBase32[] = "abcdefghijklmnopqrstuvwxyz234567";
constexpr size_t kPayloadBytes = 16 + 16 + 4;  // space | seed | expiry seconds
constexpr size_t kCheckBytes = 4;
constexpr size_t kCodeBytes = kPayloadBytes + kCheckBytes;  // 40: 64 base32 digits exactly
constexpr size_t kCodeDigits = kCodeBytes * 8 / 5;
constexpr uint64_t kMaxTtlSeconds = 366ull * 24 * 3600;

void code_check(const uint8_t* payload, uint8_t out[kCheckBytes]) {
  static constexpr char kDomain[] = "urbis/invite-code/v1";
  uint8_t h[32];
  crypto_generichash_state st;
  crypto_generichash_init(&st, nullptr, 0, sizeof h);
  crypto_generichash_update(&st, reinterpret_cast<const uint8_t*>(kDomain), sizeof kDomain - 1);
  crypto_generichash_update(&st, payload, kPayloadBytes);
  crypto_generichash_final(&st, h, sizeof h);
  std::memcpy(out, h, kCheckBytes);
}

Status bad_code(std::string what) { return Status(Code::InvalidArgument, std::move(what)); }

template <typename Id>
std::string to_str(const Id& id) {
  return std::string(reinterpret_cast<const char*>(id.bytes.data()), id.bytes.size());
}

ByteView view(const std::string& s) { return {reinterpret_cast<const uint8_t*>(s.data()), s.size()}; }

}  // namespace

InviteSecret::~InviteSecret() { sodium_memzero(seed.data(), seed.size()); }

std::string encode_invite_code(const InviteSecret& secret) {
  uint8_t raw[kCodeBytes];
  std::memcpy(raw, secret.space.bytes.data(), 16);
  std::memcpy(raw + 16, secret.seed.data(), 16);
  const auto seconds = static_cast<uint32_t>(secret.expires_ms / 1000);
  for (int i = 0; i < 4; ++i) raw[32 + i] = static_cast<uint8_t>(seconds >> (24 - 8 * i));
  code_check(raw, raw + kPayloadBytes);
  std::string out(kInviteCodePrefix);
  // Five bytes are eight base32 digits; 40 bytes need no padding.
  for (size_t i = 0; i < kCodeBytes; i += 5) {
    uint64_t group = 0;
    for (size_t j = 0; j < 5; ++j) group = group << 8 | raw[i + j];
    for (int d = 7; d >= 0; --d) out.push_back(kBase32[(group >> (5 * d)) & 31]);
  }
  sodium_memzero(raw, sizeof raw);
  return out;
}

Result<InviteSecret> decode_invite_code(std::string_view code) {
  while (!code.empty() && std::isspace(static_cast<unsigned char>(code.front()))) code.remove_prefix(1);
  while (!code.empty() && std::isspace(static_cast<unsigned char>(code.back()))) code.remove_suffix(1);
  std::string lower(code);
  for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (lower.rfind(kInviteCodePrefix, 0) != 0)
    return bad_code("not an Urbis invite code: a code starts with " + std::string(kInviteCodePrefix));
  std::string digits;
  for (char c : lower.substr(kInviteCodePrefix.size())) {
    if (c == '-' || std::isspace(static_cast<unsigned char>(c))) continue;
    if (!std::strchr(kBase32, c) || c == '\0')
      return bad_code(std::string("the invite code contains '") + c +
                      "', which no code has (only letters and the digits 2 to 7)");
    digits.push_back(c);
  }
  if (digits.size() != kCodeDigits)
    return bad_code("the invite code has " + std::to_string(digits.size()) + " characters after " +
                    std::string(kInviteCodePrefix) + " where it should have " + std::to_string(kCodeDigits) +
                    ": part of it is missing or repeated");
  uint8_t raw[kCodeBytes];
  for (size_t i = 0; i < kCodeDigits; i += 8) {
    uint64_t group = 0;
    for (size_t j = 0; j < 8; ++j)
      group = group << 5 | static_cast<uint64_t>(std::strchr(kBase32, digits[i + j]) - kBase32);
    for (size_t j = 0; j < 5; ++j) raw[i / 8 * 5 + j] = static_cast<uint8_t>(group >> (8 * (4 - j)));
  }
  sodium_memzero(digits.data(), digits.size());
  sodium_memzero(lower.data(), lower.size());
  uint8_t check[kCheckBytes];
  code_check(raw, check);
  if (sodium_memcmp(check, raw + kPayloadBytes, kCheckBytes) != 0) {
    sodium_memzero(raw, sizeof raw);
    return bad_code("the invite code does not check out: a character is mistyped");
  }
  InviteSecret secret;
  std::memcpy(secret.space.bytes.data(), raw, 16);
  std::memcpy(secret.seed.data(), raw + 16, 16);
  uint32_t seconds = 0;
  for (int i = 0; i < 4; ++i) seconds = seconds << 8 | raw[32 + i];
  secret.expires_ms = uint64_t{seconds} * 1000;
  sodium_memzero(raw, sizeof raw);
  return secret;
}

Identity invite_identity(const InviteSecret& secret) {
  crypto_init();
  static constexpr char kDomain[] = "urbis/invite/v1";
  std::array<uint8_t, 32> seed{};
  crypto_generichash_state st;
  crypto_generichash_init(&st, nullptr, 0, seed.size());
  crypto_generichash_update(&st, reinterpret_cast<const uint8_t*>(kDomain), sizeof kDomain - 1);
  crypto_generichash_update(&st, secret.space.bytes.data(), secret.space.bytes.size());
  crypto_generichash_update(&st, secret.seed.data(), secret.seed.size());
  crypto_generichash_final(&st, seed.data(), seed.size());
  Identity id = Identity::from_seed(seed);
  sodium_memzero(seed.data(), seed.size());
  return id;
}

// ---------------------------------------------------------------- replica side

Result<Invite> Replica::Impl::create_invite(const SpaceId& sid, Role role, uint64_t ttl_seconds,
                                            std::vector<DeviceKey> witnesses) {
  if (!identity_) return Status(Code::Forbidden, "a replica without an identity cannot sign");
  if (role <= Role::None || role > Role::Admin)
    return Status(Code::InvalidArgument, "an invite needs a role: viewer, commenter, editor or admin");
  if (ttl_seconds < 1 || ttl_seconds > kMaxTtlSeconds)
    return Status(Code::InvalidArgument,
                  "an invite lasts from 1 second to 366 days, not " + std::to_string(ttl_seconds) + " seconds");
  if (witnesses.empty()) {
    // The node that last served this space to this device; else one
    // remembered for every space (set by an API caller or an older build).
    URBIS_ASSIGN_OR_RETURN(std::optional<DeviceKey> node, remembered_node(sid));
    if (!node) {
      URBIS_ASSIGN_OR_RETURN(node, remembered_node(std::nullopt));
    }
    if (!node)
      return Status(Code::NotFound,
                    "no node to witness the invite: sync with the node the person joining will use, "
                    "then make the invite (the node dates the join, so an expired code stays expired)");
    witnesses.push_back(*node);
  }
  std::sort(witnesses.begin(), witnesses.end());
  witnesses.erase(std::unique(witnesses.begin(), witnesses.end()), witnesses.end());
  if (witnesses.size() > static_cast<size_t>(kMaxInviteWitnesses))
    return Status(Code::InvalidArgument,
                  "an invite names at most " + std::to_string(kMaxInviteWitnesses) + " witness nodes");
  DbTransaction tx(*db_);
  URBIS_RETURN_IF_ERROR(tx.begin());
  URBIS_ASSIGN_OR_RETURN(SpaceRow space, find_space(sid));
  URBIS_ASSIGN_OR_RETURN(AuthorRow me, find_author(space.id, identity_->device()));
  if (me.role != Role::Admin) return Status(Code::Forbidden, "only an admin can invite");

  Invite invite;
  invite.secret.space = sid;
  env_.random_bytes(invite.secret.seed);
  // Rounded up to whole seconds, so the code carries the expiry exactly and
  // the invite lasts at least the ttl.
  invite.expires_ms = (env_.now_ms() + ttl_seconds * 1000 + 999) / 1000 * 1000;
  invite.secret.expires_ms = invite.expires_ms;
  invite.role = role;
  invite.key = invite_identity(invite.secret).device();

  pb::Membership m;
  auto* u = m.add_updates();
  u->set_device(to_str(invite.key));
  u->set_role(static_cast<pb::Role>(role));
  u->set_invite_expires_ms(invite.expires_ms);
  for (const auto& w : witnesses) u->add_invite_witnesses(to_str(w));
  // Every epoch's key, as add_member grants them: the redeemer reads the history.
  for (uint32_t e = 1; e <= space.epoch; ++e) {
    const auto* keys = keys_for(space.id, e);
    if (!keys) continue;
    for (const auto& k : *keys)
      if (!add_grant(m, e, invite.key, k)) return Status(Code::Internal, "cannot seal a key to the invite");
  }
  URBIS_ASSIGN_OR_RETURN(invite.change, write_change(space, pb::CHANGE_MEMBERSHIP, m.SerializeAsString(), nullptr));
  URBIS_RETURN_IF_ERROR(tx.commit());
  invite.code = encode_invite_code(invite.secret);
  return invite;
}

Result<CommitInfo> Replica::Impl::redeem_invite(const InviteSecret& secret) {
  if (!identity_) return Status(Code::Forbidden, "a replica without an identity cannot join a space");
  auto found = find_space(secret.space);
  if (!found.is_ok()) {
    if (found.code() == Code::UnknownSpace)
      return Status(Code::UnknownSpace,
                    "space " + secret.space.hex() + " is not stored here: fetch its log as the invite first");
    return found.status();
  }
  const SpaceRow space = found.value();
  const Identity key = invite_identity(secret);
  URBIS_ASSIGN_OR_RETURN(AuthorRow invite, find_author(space.id, key.device()));
  if (!invite.id || invite.invite_expires == 0)
    return Status(Code::NotFound,
                  "no invite with this code in the space's log here (has the admin's "
                  "change that created it arrived?)");
  if (invite.head_seq != 0) return Status(Code::NotAMember, "this invite code has already been used");
  if (invite.role == Role::None) return Status(Code::NotAMember, "this invite was revoked");
  URBIS_ASSIGN_OR_RETURN(AuthorRow me, find_author(space.id, identity_->device()));
  if (me.role != Role::None)
    return Status(Code::InvalidArgument,
                  "this device is already a member of the space (role " + std::string(role_name(me.role)) + ")");
  if (env_.now_ms() > invite.invite_expires)
    return Status(Code::Expired, "this invite expired at " + utc_time_text(invite.invite_expires));

  pb::Membership m;
  auto* self = m.add_updates();
  self->set_device(to_str(key.device()));
  self->set_role(pb::ROLE_NONE);
  auto* joiner = m.add_updates();
  joiner->set_device(to_str(identity_->device()));
  joiner->set_role(static_cast<pb::Role>(invite.invite_role));
  {
    // Every key granted to the invite, re-sealed to this device.
    auto box_secret = key.box_secret_key();
    Stmt s = db_->prepare("SELECT epoch, sealed FROM grants WHERE space=? AND device=? ORDER BY epoch");
    s.bind(1, space.id).bind(2, key.device().view());
    Status st;
    while (st.is_ok() && s.step()) {
      auto k = open_sealed_key(s.blob(1), key.device(), box_secret);
      if (!k) continue;  // not sealed to the invite after all: nothing to pass on
      const bool sealed = add_grant(m, static_cast<uint32_t>(s.i64(0)), identity_->device(), *k);
      sodium_memzero(k->data(), k->size());
      if (!sealed) {
        st = Status(Code::Internal, "cannot seal a key to this device");
        break;
      }
    }
    sodium_memzero(box_secret.data(), box_secret.size());
    URBIS_RETURN_IF_ERROR(st);
    URBIS_RETURN_IF_ERROR(s.status());
  }

  pb::Header h;
  h.set_space(to_str(space.sid));
  h.set_author(to_str(key.device()));
  h.set_seq(1);
  h.set_hlc(tick_hlc());
  h.set_epoch(space.epoch);
  h.set_kind(pb::CHANGE_MEMBERSHIP);
  const std::string body = m.SerializeAsString();
  URBIS_ASSIGN_OR_RETURN(SealedEnvelope sealed, seal_envelope(h, view(body), nullptr, key));
  const std::string& raw = sealed.raw;
  // The rules every replica will apply (chain and epoch hold by construction;
  // the receipt is the witness node's to add).
  {
    ParsedChange p;
    p.raw = view(raw);
    p.envelope = sealed.envelope;
    p.header = h;
    p.space = space.sid;
    p.author = key.device();
    URBIS_RETURN_IF_ERROR(check_redeem(space, invite, p, m, /*local=*/true));
  }
  CommitInfo info;
  info.seq = 1;
  info.envelope.assign(raw.begin(), raw.end());
  info.hash = blake2b_256(info.envelope);
  return info;
}

Result<std::optional<Bytes>> Replica::Impl::witness_redeem(ByteView raw, const DeviceKey& witness,
                                                           const Replica::SignFn& sign) {
  // Every envelope a node receives passes here: look at the header alone
  // (peek_envelope: the body neither copied nor parsed) before parsing the
  // rest of what can only be a redeem.
  if (auto h = peek_envelope(raw); !h || !h->membership || h->seq != 1) return std::optional<Bytes>();
  auto parsed = parse(raw);
  if (!parsed.is_ok()) return std::optional<Bytes>();  // apply() says what is wrong
  const ParsedChange& p = parsed.value();
  const pb::Header& h = p.header;
  if (h.kind() != pb::CHANGE_MEMBERSHIP || h.seq() != 1 || p.envelope.has_receipt()) return std::optional<Bytes>();
  auto space = find_space(p.space);
  if (!space.is_ok()) return std::optional<Bytes>();
  URBIS_ASSIGN_OR_RETURN(AuthorRow invite, find_author(space->id, p.author));
  // Not a pending invite naming this node: nothing to witness (apply judges).
  if (!invite.id || invite.invite_expires == 0 || invite.head_seq != 0 || !invite.witnessed_by(witness))
    return std::optional<Bytes>();
  // Never sign for bytes the invite did not sign.
  if (!envelope_signature_ok(p.envelope, p.author)) return std::optional<Bytes>();
  const uint64_t now = env_.now_ms();
  if (now > invite.invite_expires)
    return Status(Code::Expired, "the invite expired at " + utc_time_text(invite.invite_expires) +
                                     "; this node received its redeem at " + utc_time_text(now));
  pb::Envelope env = p.envelope;
  pb::Receipt* rc = env.mutable_receipt();
  rc->set_witness(to_str(witness));
  rc->set_time_ms(now);
  auto sig = sign(receipt_message(view(env.header()), view(env.body()), view(env.signature()), now));
  rc->set_signature(sig.data(), sig.size());
  const std::string out = env.SerializeAsString();
  return std::optional<Bytes>(Bytes(out.begin(), out.end()));
}

namespace {
// meta key of the node remembered for `space` ('node:' + its hex), or of the
// one remembered for every space ('node': API callers and older builds).
std::string node_key(const std::optional<SpaceId>& space) { return space ? "node:" + space->hex() : "node"; }
}  // namespace

Status Replica::Impl::remember_node(const DeviceKey& node, const std::optional<SpaceId>& space) {
  URBIS_ASSIGN_OR_RETURN(std::optional<DeviceKey> known, remembered_node(space));
  if (known == node) return Status::ok();
  Stmt s = db_->prepare("INSERT OR REPLACE INTO meta(key, value) VALUES(?, ?)");
  return s.bind(1, node_key(space)).bind(2, node.view()).run();
}

Result<std::optional<DeviceKey>> Replica::Impl::remembered_node(const std::optional<SpaceId>& space) {
  Stmt s = db_->prepare("SELECT value FROM meta WHERE key=?");
  s.bind(1, node_key(space));
  if (!s.step()) {
    URBIS_RETURN_IF_ERROR(s.status());
    return std::optional<DeviceKey>();
  }
  return DeviceKey::from_bytes(s.blob(0));
}

// ---------------------------------------------------------------- public face

Result<Invite> Replica::create_invite(const SpaceId& s, Role role, uint64_t ttl_seconds,
                                      std::vector<DeviceKey> witnesses) {
  return impl_->create_invite(s, role, ttl_seconds, std::move(witnesses));
}
Status Replica::remember_node(const DeviceKey& node, const std::optional<SpaceId>& space) {
  return impl_->remember_node(node, space);
}
Result<std::optional<DeviceKey>> Replica::remembered_node(const std::optional<SpaceId>& space) {
  return impl_->remembered_node(space);
}
Result<std::optional<Bytes>> Replica::witness_redeem(ByteView envelope, const DeviceKey& witness, const SignFn& sign) {
  return impl_->witness_redeem(envelope, witness, sign);
}
Result<CommitInfo> Replica::redeem_invite(const InviteSecret& invite) { return impl_->redeem_invite(invite); }

}  // namespace urbis
