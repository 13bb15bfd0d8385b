// `urbis space invite` and `urbis space join`: joining a space by code
// (core/include/urbis/invite.h).
//
// space invite SPACE --role ROLE [--ttl SECONDS] [--witness NODE_KEY]...
//   The admin's membership change adding a fresh invite key (committed
//   locally; `urbis sync` takes it to the node) -> {"invite", "expires"}.
//   The witness (default: the node that last served the space to this home) is the node
//   that dates the redeem: the joiner must join through it.
//
// space revoke-invite SPACE KEY|CODE
//   Replica::revoke_invite on the invite's key (given, or derived from the
//   code): the admin's membership change removing it, committed locally;
//   `urbis sync` takes it to the node, which then no longer serves the
//   invite, so a later `space join` with the code fails. A redeem the node
//   accepted before the revocation reached it is settled by the core's rules
//   (docs/membership.md).
//
// space join CODE URL
//   1-3. sync::JoinSession (sync/join.h, shared with the browser client), as
//      the invite, into a scratch in-memory store: sync the space, push the
//      redeem, wait for the node's Ack or Error. Accepted: copy the scratch
//      log (with the redeem as the witness node sent it back) into the
//      device's store. Refused (another device redeemed first): nothing was
//      written to the device's store, and the error says the code was used.
//   4. Sync the space as the device (a member now) and print its role.
//   A join whose Ack was lost (the node stored the redeem, the device did
//   not) is finished by running it again: the node no longer serves the
//   invite, but step 4 finds the device a member.
#include <algorithm>
#include <charconv>

#include "commands.h"
#include "home.h"
#include "net.h"
#include "sync_client.h"
#include "urbis/invite.h"
#include "urbis/sync/join.h"

namespace urbis::cli {
namespace {

constexpr uint64_t kDefaultTtlSeconds = 7 * 24 * 3600;
constexpr uint64_t kMaxTtlSeconds = 366 * 24 * 3600;

[[noreturn]] void fail_expired(const InviteSecret& secret) {
  fail(Code::Expired, "this invite code expired at " + utc_time_text(secret.expires_ms));
}

Role parse_role(const Args& args, const char* usage) {
  auto text = args.value("--role");
  if (!text) usage_error(std::string("usage: urbis ") + usage);
  auto role = role_from_name(*text);
  if (!role || *role == Role::None) usage_error("--role must be admin, editor, commenter or viewer");
  return *role;
}

}  // namespace

void run_space_invite(const Context& ctx, const Args& args) {
  const char* usage = "space invite SPACE --role admin|editor|commenter|viewer [--ttl SECONDS] [--witness NODE_KEY]...";
  args.expect_positional(1, usage);
  const Role role = parse_role(args, usage);
  uint64_t ttl = kDefaultTtlSeconds;
  if (auto text = args.value("--ttl")) {
    auto [end, ec] = std::from_chars(text->data(), text->data() + text->size(), ttl);
    if (ec != std::errc() || end != text->data() + text->size() || ttl < 1 || ttl > kMaxTtlSeconds)
      usage_error("--ttl takes a number of seconds from 1 to " + std::to_string(kMaxTtlSeconds) + " (366 days)");
  }
  std::vector<DeviceKey> witnesses;
  for (const std::string& hex : args.values("--witness")) {
    auto key = DeviceKey::from_hex(hex);
    if (!key) usage_error("--witness takes a node key (64 hex digits, from 'urbis node key'), not '" + hex + "'");
    witnesses.push_back(*key);
  }
  auto replica = open_home(ctx);
  SpaceId space = resolve_space(*replica, args.positional()[0]);
  Invite invite = check(replica->create_invite(space, role, ttl, witnesses));
  emit(ctx, {{"invite", invite.code}, {"expires", utc_time_text(invite.expires_ms)}});
}

void run_space_revoke_invite(const Context& ctx, const Args& args) {
  args.expect_positional(2, "space revoke-invite SPACE KEY|CODE");
  const std::string& given = args.positional()[1];
  // The invite's key: given as such (64 hex digits, as `space members` lists
  // it), or derived from its code (the admin may hold only the code).
  std::optional<DeviceKey> key = DeviceKey::from_hex(given);
  std::optional<SpaceId> code_space;
  if (!key) {
    auto decoded = decode_invite_code(given);
    if (!decoded.is_ok())
      usage_error("'" + given +
                  "' is neither an invite key (64 hex digits, from 'urbis space members') nor an "
                  "invite code (" +
                  decoded.status().message() + ")");
    key = invite_identity(decoded.value()).device();
    code_space = decoded.value().space;
  }
  auto replica = open_home(ctx);
  const SpaceId space = resolve_space(*replica, args.positional()[0]);
  if (code_space && *code_space != space)
    fail(Code::InvalidArgument, "this invite code is for space " + code_space->hex() + ", not " + space.hex());
  // Say what the key is when it is not a pending invite here, rather than
  // the core's bare NotFound.
  std::optional<Member> listed;
  for (const Member& m : check(replica->members(space)))
    if (m.device == *key) listed = m;
  if (listed && listed->invite_expires_ms == 0)
    fail(Code::InvalidArgument, key->hex() + " is a member (" + std::string(role_name(listed->role)) +
                                    "), not a pending invite: use 'urbis space remove-member'");
  const Status revoked = replica->revoke_invite(space, *key);
  if (revoked.code() == Code::NotFound)
    fail(Code::NotFound, "no pending invite " + key->hex() + " in space " + space.hex() +
                             ": it was already redeemed or revoked, or has expired, or was never made here "
                             "(an invite made on another admin's device arrives with 'urbis sync'); "
                             "'urbis space members' lists the pending ones");
  check(revoked);
  emit(ctx, {{"space", space.hex()}, {"invite", key->hex()}, {"revoked", true}});
}

void run_space_join(const Context& ctx, const Args& args) {
  args.expect_positional(2, "space join CODE URL [--ca-file FILE]");
  auto decoded = decode_invite_code(args.positional()[0]);
  if (!decoded.is_ok()) usage_error(decoded.status().message());
  const InviteSecret secret = decoded.value();
  const SpaceId space = secret.space;
  const std::string url = args.positional()[1];
  const std::optional<std::string> ca_file = args.value("--ca-file");
  // A usage error before the passphrase is asked for.
  check_client_tls(parse_ws_url(url), ca_file);
  if (system_env().now_ms() > secret.expires_ms) fail_expired(secret);

  SyncHome home = open_device_for_sync(ctx);
  auto before = home.replica->space(space);
  const bool member = before.is_ok() && before->my_role != Role::None;
  std::optional<Status> refusal;  // why the redeem did not happen, if it did not
  if (!member) {
    // 1-3 (sync/join.h). As the invite, into a scratch store; the device's
    // store is untouched until the node accepted the redeem.
    auto scratch = check(Replica::open(":memory:", home.signer().duplicate(), system_env(),
                                       {.materialize = false, .synchronous_full = false}));
    const Identity invite = invite_identity(secret);
    sync::JoinSession join(*scratch, system_env(), secret, invite, url);
    (void)run_sync_session(url, *scratch, sync::Signer::of(invite), SyncRequest{.ca_file = ca_file, .join = &join});
    if (join.state() == sync::JoinSession::State::Accepted) {
      // The log becomes the device's, with the redeem as the witness node
      // sent it back (receipted; our own copy has no receipt and no replica
      // would take it).
      auto log = check(scratch->changes_since(space, {}));
      (void)home.replica->apply_batch(log);  // refusals, if any, are caught up by the sync below
    } else if (join.state() == sync::JoinSession::State::Refused) {
      // Refused by the node or on what it served is final; not served at
      // all may be a join of this device whose Ack was lost (step 4 finds out).
      if (join.served()) check(join.refusal());
      refusal = join.refusal();
    }
  }
  // 4. As the device. When the node did not serve the invite, this also
  // finishes an earlier join whose acknowledgement was lost.
  (void)run_sync_session(url, *home.replica, sync::Signer::of(home.signer()),
                         SyncRequest{.spaces = {space}, .ca_file = ca_file});
  auto after = home.replica->space(space);
  const Role role = after.is_ok() ? after->my_role : Role::None;
  if (role == Role::None) {
    if (system_env().now_ms() > secret.expires_ms) fail_expired(secret);
    const Status not_member(Code::NotAMember, "the node does not count this device a member");
    check(refusal && !refusal->is_ok() ? *refusal : not_member);  // never exit 0 without a role
  }
  emit(ctx, {{"space", space.hex()}, {"role", role_name(role)}});
}

}  // namespace urbis::cli
