// FrameQueue: the outgoing side of one WebSocket connection, shared by the
// node (node/server) and the sync client (node/cli/sync_client.cc). Beast allows one
// write at a time while a read is pending; frames from several sources (the
// session's replies, live pushes, the poll timer) are queued here and written
// in order, then an optional close follows once the queue has drained.
//
// Thread-safety: none; used from the io_context's single thread. Handlers
// hold `keep` (the owner's shared_ptr) so the stream outlives them.
#pragma once

#include <utility>  // before Boost: asio's awaitable.hpp needs std::exchange

#include <cstddef>
#include <deque>
#include <functional>
#include <memory>
#include <vector>

#include <boost/asio.hpp>
#include <boost/beast.hpp>

#include "urbis/types.h"

namespace urbis::net {

template <typename WebSocket>
class FrameQueue {
 public:
  explicit FrameQueue(WebSocket& ws) : ws_(ws) {}

  // Called after each frame written, with its size.
  std::function<void(size_t)> on_written;

  // Queues `frames` (binary messages) for writing; dropped once closing or failed.
  void send(std::vector<Bytes> frames, const std::shared_ptr<void>& keep) {
    if (close_requested_ || failed_) return;
    for (Bytes& f : frames) {
      queued_bytes_ += f.size();
      queue_.push_back(std::move(f));
    }
    pump(keep);
  }

  // Closes with `reason` once the queued frames are written (once); `done`
  // gets the close's result (or the write error that prevented it).
  void close(boost::beast::websocket::close_reason reason, const std::shared_ptr<void>& keep,
             std::function<void(boost::beast::error_code)> done = {}) {
    if (close_requested_) return;
    close_requested_ = true;
    reason_ = reason;
    done_ = std::move(done);
    if (failed_) {
      finish(boost::asio::error::not_connected);
      return;
    }
    pump(keep);
  }

  bool closing() const { return close_requested_; }
  size_t pending() const { return queue_.size(); }
  // Bytes of the frames queued and not yet written.
  size_t pending_bytes() const { return queued_bytes_; }

 private:
  void pump(const std::shared_ptr<void>& keep) {
    if (writing_ || close_started_) return;
    if (queue_.empty()) {
      if (!close_requested_) return;
      close_started_ = true;
      ws_.async_close(reason_, [this, keep](boost::beast::error_code ec) { finish(ec); });
      return;
    }
    writing_ = true;
    ws_.async_write(boost::asio::buffer(queue_.front()), [this, keep](boost::beast::error_code ec, size_t n) {
      writing_ = false;
      if (ec) {
        failed_ = true;
        queue_.clear();
        queued_bytes_ = 0;
        if (close_requested_) finish(ec);
        return;
      }
      if (on_written) on_written(n);
      queued_bytes_ -= queue_.front().size();
      queue_.pop_front();
      pump(keep);
    });
  }

  void finish(boost::beast::error_code ec) {
    if (auto done = std::exchange(done_, nullptr)) done(ec);
  }

  WebSocket& ws_;
  std::deque<Bytes> queue_;
  size_t queued_bytes_ = 0;
  bool writing_ = false, failed_ = false;
  bool close_requested_ = false, close_started_ = false;
  boost::beast::websocket::close_reason reason_;
  std::function<void(boost::beast::error_code)> done_;
};

}  // namespace urbis::net
