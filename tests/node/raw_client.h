// RawClient: a WebSocket client for the node's process tests that speaks the
// sync protocol by hand (sync/proto/urbis/sync.proto), so a test can send
// what `urbis sync` never would: frames out of order, forged changes, random
// bytes, floods. Boost.Beast on its own io_context; every operation is bounded
// by a time limit and reports failure as a value (no doctest assertion
// inside), so a client may run on a thread of its own.
//
// Thread-safety: none; one thread per client.
#pragma once

#include <utility>  // before Boost: asio's awaitable.hpp needs std::exchange

#include <chrono>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <boost/asio.hpp>
#include <boost/beast.hpp>

#include "urbis/identity.h"
#include "urbis/replica.h"
#include "urbis/sync.pb.h"

namespace urbis::testing {

namespace raw {
namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;
using tcp = asio::ip::tcp;
}  // namespace raw

inline std::string wire(const Bytes& b) { return std::string(b.begin(), b.end()); }
template <typename Id>
std::string wire_id(const Id& id) {
  return std::string(reinterpret_cast<const char*>(id.bytes.data()), id.bytes.size());
}

class RawClient {
 public:
  using Ms = std::chrono::milliseconds;

  // Connects to 127.0.0.1:port and asks for the /sync upgrade; ok() tells
  // whether it was accepted, status() and refusal_body() what answered.
  explicit RawClient(int port, Ms limit = Ms(5000)) : ws_(io_) {
    namespace r = raw;
    r::beast::error_code ec = run_bounded(
        [&](auto done) {
          r::beast::get_lowest_layer(ws_).async_connect(
              r::tcp::endpoint(r::asio::ip::make_address("127.0.0.1"), static_cast<uint16_t>(port)), done);
        },
        limit);
    if (ec) {
      error_ = "connect: " + ec.message();
      return;
    }
    ws_.binary(true);
    ws_.read_message_max(64u << 20);
    ec = run_bounded([&](auto done) { ws_.async_handshake(response_, "127.0.0.1", "/sync", done); }, limit);
    if (ec) {
      error_ = "handshake: " + ec.message();
      return;
    }
    open_ = true;
  }
  RawClient(const RawClient&) = delete;
  RawClient& operator=(const RawClient&) = delete;

  bool ok() const { return open_; }
  const std::string& error() const { return error_; }
  int status() const { return response_.result_int(); }
  const std::string& refusal_body() const { return response_.body(); }

  // Sends one binary message; false once the connection is gone.
  bool send_bytes(std::string_view bytes, Ms limit = Ms(5000)) {
    if (!open_) return false;
    auto ec = run_bounded(
        [&](auto done) {
          ws_.async_write(raw::asio::buffer(bytes.data(), bytes.size()),
                          [done](raw::beast::error_code e, size_t) mutable { done(e); });
        },
        limit);
    if (ec) note_closed(ec);
    return !ec;
  }
  bool send(const pb::Frame& frame, Ms limit = Ms(5000)) { return send_bytes(frame.SerializeAsString(), limit); }

  // The next frame within `limit`; nullopt when the connection closed (see
  // closed(), close_code()) or the time ran out. A read that runs out of
  // time stays pending (cancelling would fail the WebSocket) and delivers
  // to the next call.
  std::optional<pb::Frame> next(Ms limit = Ms(5000)) {
    if (!open_ && !reading_) return std::nullopt;
    if (!reading_) {
      reading_ = true;
      read_result_.reset();
      buffer_.clear();
      ws_.async_read(buffer_, [this](raw::beast::error_code e, size_t) { read_result_ = e; });
    }
    const auto deadline = std::chrono::steady_clock::now() + limit;
    while (!read_result_ && std::chrono::steady_clock::now() < deadline) {
      io_.restart();
      io_.run_one_until(deadline);
    }
    if (!read_result_) return std::nullopt;
    reading_ = false;
    if (const auto ec = *read_result_) {
      note_closed(ec);
      return std::nullopt;
    }
    pb::Frame f;
    const auto data = buffer_.cdata();
    if (!f.ParseFromArray(data.data(), static_cast<int>(data.size()))) {
      error_ = "the node sent a frame that does not parse";
      return std::nullopt;
    }
    return f;
  }

  // Frames until `stop` holds for one (included) or the connection closes;
  // all of them, in order. Bounded by `limit` overall.
  std::vector<pb::Frame> until(const std::function<bool(const pb::Frame&)>& stop, Ms limit = Ms(5000)) {
    std::vector<pb::Frame> out;
    const auto deadline = std::chrono::steady_clock::now() + limit;
    while (open_) {
      const auto left = std::chrono::duration_cast<Ms>(deadline - std::chrono::steady_clock::now());
      if (left <= Ms(0)) break;
      auto f = next(left);
      if (!f) break;
      out.push_back(*f);
      if (stop(*f)) break;
    }
    return out;
  }
  // Reads until the node closes the connection (or `limit`); the frames before.
  std::vector<pb::Frame> until_closed(Ms limit = Ms(5000)) {
    return until([](const pb::Frame&) { return false; }, limit);
  }

  bool closed() const { return closed_; }
  // The code of the node's close frame (1008 policy, 1009 too big, 1013 try
  // again later); 0 when the connection ended without one.
  int close_code() const { return close_code_; }

  // The handshake of a client device: reads the node's Hello, sends Hello and
  // Auth signed by `id`. A key-less node sends no Auth back. False on failure.
  bool authenticate(const Identity& id) {
    auto hello = next();
    if (!hello || !hello->has_hello()) {
      error_ = "no Hello from the node";
      return false;
    }
    pb::Frame mine;
    mine.mutable_hello()->set_version(1);
    mine.mutable_hello()->set_device(wire_id(id.device()));
    mine.mutable_hello()->set_challenge(std::string(32, 'c'));
    pb::Frame auth;
    auth.mutable_auth()->set_device(wire_id(id.device()));
    std::string message = "urbis/sync/v1/auth";
    message += 'C';
    message += hello->hello().challenge();
    auto sig = id.sign(ByteView(reinterpret_cast<const uint8_t*>(message.data()), message.size()));
    auth.mutable_auth()->set_signature(sig.data(), sig.size());
    return send(mine) && send(auth);
  }

  // Sends Want for `spaces` with the heads `replica` holds (none for a space
  // it lacks) and reads up to the node's Want answer; the frames read.
  std::vector<pb::Frame> want(const std::vector<SpaceId>& spaces, Replica* replica = nullptr, Ms limit = Ms(5000)) {
    pb::Frame f;
    f.mutable_want();  // an empty Want is still a Want
    for (const SpaceId& s : spaces) {
      auto* sv = f.mutable_want()->add_spaces();
      sv->set_space(wire_id(s));
      if (!replica) continue;
      auto vv = replica->version_vector(s);
      if (!vv.is_ok()) continue;
      for (const auto& [author, seq] : *vv) {
        auto* h = sv->add_heads();
        h->set_author(wire_id(author));
        h->set_seq(seq);
      }
    }
    if (!send(f, limit)) return {};
    return until([](const pb::Frame& r) { return r.has_want(); }, limit);
  }

  // Catches `replica` up on `space` from the node: Want, then every Changes
  // frame applied and acknowledged, up to the node's Live. The frames read.
  std::vector<pb::Frame> catch_up(const SpaceId& space, Replica& replica) {
    std::vector<pb::Frame> all = want({space}, &replica);
    auto live = [&](const pb::Frame& f) { return f.has_live() && f.live().space() == wire_id(space); };
    for (const auto& f : all)
      if (live(f)) return all;
    bool done = false;
    while (!done && open_) {
      auto f = next();
      if (!f) break;
      all.push_back(*f);
      if (f->has_changes()) {
        std::vector<Bytes> envelopes;
        for (const auto& e : f->changes().envelopes()) envelopes.emplace_back(e.begin(), e.end());
        (void)replica.apply_batch(envelopes);
        pb::Frame ack;
        ack.mutable_ack()->set_space(f->changes().space());
        send(ack);
      }
      done = live(*f);
    }
    return all;
  }

  // Sends Changes{space, envelopes} and reads up to the node's Ack; the
  // frames read. For a space not synced in the session the node sends an
  // Error and no Ack: `synced` false reads up to that Error instead.
  std::vector<pb::Frame> push(const SpaceId& space, const std::vector<Bytes>& envelopes, bool synced = true) {
    pb::Frame f;
    f.mutable_changes()->set_space(wire_id(space));
    for (const Bytes& e : envelopes) f.mutable_changes()->add_envelopes(wire(e));
    if (!send(f)) return {};
    return until([synced](const pb::Frame& r) { return synced ? r.has_ack() : r.has_error(); });
  }

  // Closes from this side (bounded); the node sees a normal close.
  void close() {
    if (!open_) return;
    open_ = false;
    (void)run_bounded([&](auto done) { ws_.async_close(raw::websocket::close_code::normal, done); }, Ms(2000));
    if (reading_) {  // the close completes the pending read
      io_.restart();
      io_.run_for(Ms(1000));
    }
  }
  ~RawClient() { close(); }

 private:
  // Starts an operation with a completion `done(error_code)` and runs the
  // io_context until it completes or `limit` passes (then cancels it and
  // reports timed_out).
  template <typename Start>
  raw::beast::error_code run_bounded(Start start, Ms limit) {
    std::optional<raw::beast::error_code> result;
    start([&result](raw::beast::error_code ec) { result = ec; });
    // One handler at a time: a pending read (next()) keeps the context busy.
    const auto deadline = std::chrono::steady_clock::now() + limit;
    while (!result && std::chrono::steady_clock::now() < deadline) {
      io_.restart();
      io_.run_one_until(deadline);
    }
    if (result) return *result;
    raw::beast::error_code ignored;
    raw::beast::get_lowest_layer(ws_).socket().cancel(ignored);
    const auto grace = std::chrono::steady_clock::now() + Ms(1000);
    while (!result && std::chrono::steady_clock::now() < grace) {
      io_.restart();
      io_.run_one_until(grace);
    }
    return raw::asio::error::timed_out;
  }
  void note_closed(raw::beast::error_code ec) {
    open_ = false;
    closed_ = true;
    if (error_.empty()) error_ = ec.message();
    if (ec == raw::websocket::error::closed) close_code_ = ws_.reason().code;
  }

  raw::asio::io_context io_;
  raw::websocket::stream<raw::beast::tcp_stream> ws_;
  raw::beast::flat_buffer buffer_;
  bool reading_ = false;  // an async_read is pending (see next())
  std::optional<raw::beast::error_code> read_result_;
  raw::websocket::response_type response_;
  bool open_ = false, closed_ = false;
  int close_code_ = 0;
  std::string error_;
};

// The Error frames among `frames`.
inline std::vector<pb::Error> errors_in(const std::vector<pb::Frame>& frames) {
  std::vector<pb::Error> out;
  for (const auto& f : frames)
    if (f.has_error()) out.push_back(f.error());
  return out;
}

// Whether `frames` hold an Error with `code` (and, when given, about `space`).
inline bool has_error(const std::vector<pb::Frame>& frames, Code code, const std::optional<SpaceId>& space = {}) {
  for (const auto& e : errors_in(frames))
    if (e.code() == static_cast<int32_t>(code) && (!space || e.space() == wire_id(*space))) return true;
  return false;
}

}  // namespace urbis::testing
