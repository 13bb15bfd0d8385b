// Transport: one WebSocket to the sync node at a time, binary frames, with
// reconnection by exponential backoff with jitter. It knows nothing of the
// protocol: the handler gets `opened()`, `frame(bytes)` and `closed()` and
// sends through sendAfter().
//
// Reconnection: after a connection closes (or fails to open within
// connectTimeoutMs), the next attempt waits min(maxDelayMs, minDelayMs * 2^n)
// scaled by a random factor in [0.5, 1) ("equal jitter"), n counting the
// attempts since the last healthy session (markHealthy(), called when the
// session reaches Live). While offline (setOnline(false), from the browser's
// offline event) the socket is closed and no attempt is made; online
// connects at once.
//
// sendAfter(promise, frames) sends `frames` on the socket that is open now,
// once `promise` settles successfully and every earlier sendAfter has sent:
// frames leave in call order, and never before the log appends they depend on
// are durable. Frames of a socket that closed meanwhile are dropped (a new
// session starts over).

const OPEN = 1;

export class Transport {
  constructor({
    url,
    WebSocket,
    handler,
    minDelayMs = 250,
    maxDelayMs = 30000,
    connectTimeoutMs = 10000,
    random = Math.random,
    online = true,
  }) {
    this.url = url;
    this.WebSocket = WebSocket;
    this.handler = handler;
    this.minDelayMs = minDelayMs;
    this.maxDelayMs = maxDelayMs;
    this.connectTimeoutMs = connectTimeoutMs;
    this.random = random;
    this.online = online;
    this.ws = null;
    this.open = false;
    this.attempt = 0;
    this.timer = null;
    this.stopped = true;
    this.chain = Promise.resolve();
    this.connects = 0; // attempts made (tests, metrics)
  }

  start() {
    this.stopped = false;
    if (this.online) this.#connect();
  }

  stop() {
    this.stopped = true;
    clearTimeout(this.timer);
    this.timer = null;
    this.#drop();
  }

  get connected() {
    return this.open;
  }

  setOnline(online) {
    if (online === this.online) return;
    this.online = online;
    if (!online) {
      clearTimeout(this.timer);
      this.timer = null;
      this.#drop();
    } else if (!this.stopped && !this.ws) {
      this.attempt = 0;
      clearTimeout(this.timer);
      this.timer = null;
      this.#connect();
    }
  }

  // The session is healthy again: the next failure starts backoff afresh.
  markHealthy() {
    this.attempt = 0;
  }

  // The delay before reconnect attempt number `attempt` (0-based).
  delayFor(attempt) {
    const base = Math.min(this.maxDelayMs, this.minDelayMs * 2 ** Math.min(attempt, 30));
    return Math.round(base * (0.5 + this.random() / 2));
  }

  sendAfter(promise, frames) {
    const ws = this.ws;
    if (!ws || !frames.length) return;
    promise.catch(() => {}); // its failure is handled below, in turn
    this.chain = this.chain
      .then(() => promise)
      .then(
      () => {
        if (this.ws === ws && ws.readyState === OPEN) for (const f of frames) ws.send(f);
      },
      () => {}, // the append failed: the frames must not leave
    );
  }

  // Closes the current socket after everything queued so far was sent.
  closeAfterSent() {
    const ws = this.ws;
    if (!ws) return;
    this.chain = this.chain.then(() => {
      if (this.ws === ws) ws.close(1000, 'session failed');
    });
  }

  #connect() {
    if (this.ws || this.stopped || !this.online) return;
    this.connects += 1;
    let ws;
    try {
      ws = new this.WebSocket(this.url);
    } catch (e) {
      this.#scheduleReconnect();
      return;
    }
    ws.binaryType = 'arraybuffer';
    this.ws = ws;
    const timeout = setTimeout(() => {
      if (this.ws === ws && !this.open) this.#drop();
    }, this.connectTimeoutMs);
    ws.onopen = () => {
      clearTimeout(timeout);
      if (this.ws !== ws) return;
      this.open = true;
      this.handler.opened();
    };
    ws.onmessage = (e) => {
      if (this.ws !== ws) return;
      if (!(e.data instanceof ArrayBuffer)) return; // the protocol has binary frames only
      this.handler.frame(new Uint8Array(e.data));
    };
    ws.onerror = () => {}; // a close event follows
    ws.onclose = () => {
      clearTimeout(timeout);
      if (this.ws !== ws) return;
      this.#drop();
    };
  }

  // Forgets the current socket (closing it), tells the handler, and plans
  // the next attempt when that is wanted.
  #drop() {
    const ws = this.ws;
    if (!ws) return;
    const wasOpen = this.open;
    this.ws = null;
    this.open = false;
    ws.onopen = ws.onmessage = ws.onclose = ws.onerror = null;
    try {
      ws.close();
    } catch (e) {
      // already closed
    }
    if (wasOpen) this.handler.closed();
    else if (this.handler.failed) this.handler.failed();
    this.#scheduleReconnect();
  }

  #scheduleReconnect() {
    if (this.stopped || !this.online || this.timer) return;
    const delay = this.delayFor(this.attempt);
    this.attempt += 1;
    this.nextDelayMs = delay;
    this.timer = setTimeout(() => {
      this.timer = null;
      this.#connect();
    }, delay);
  }
}
