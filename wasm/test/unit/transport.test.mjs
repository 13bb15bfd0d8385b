// The WebSocket transport against a fake socket: backoff with jitter and a
// cap, offline/online, and frames leaving only after the appends they wait for.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { glue } from './helpers.mjs';

const { Transport } = await glue('transport.js');

// A WebSocket stand-in the test opens, fails and inspects.
function fakeSockets() {
  const sockets = [];
  class FakeSocket {
    constructor(url) {
      this.url = url;
      this.readyState = 0;
      this.sent = [];
      this.at = Date.now();
      sockets.push(this);
    }
    send(f) {
      this.sent.push(f);
    }
    close() {
      if (this.readyState === 3) return;
      this.readyState = 3;
      if (this.onclose) this.onclose({});
    }
    // test controls
    accept() {
      this.readyState = 1;
      this.onopen && this.onopen({});
    }
    refuse() {
      this.readyState = 3;
      this.onerror && this.onerror({});
      this.onclose && this.onclose({});
    }
  }
  return { FakeSocket, sockets };
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function handler() {
  const h = { opened: 0, closed: 0, frames: [] };
  h.opened = 0;
  return Object.assign(h, {
    opened: () => (h.openedCount = (h.openedCount || 0) + 1),
    closed: () => (h.closedCount = (h.closedCount || 0) + 1),
    frame: (b) => h.frames.push(b),
  });
}

test('backoff doubles up to the cap, with jitter in [0.5, 1)', () => {
  const t = new Transport({ url: 'ws://x', WebSocket: class {}, handler: handler(), minDelayMs: 100, maxDelayMs: 1000, random: () => 0 });
  assert.deepEqual([0, 1, 2, 3, 4, 5].map((a) => t.delayFor(a)), [50, 100, 200, 400, 500, 500]);
  const hi = new Transport({ url: 'ws://x', WebSocket: class {}, handler: handler(), minDelayMs: 100, maxDelayMs: 1000, random: () => 0.999 });
  assert.deepEqual([0, 3, 9].map((a) => hi.delayFor(a)), [100, 800, 1000]);
});

test('reconnects after refusals with growing delays, and resets once healthy', async () => {
  const { FakeSocket, sockets } = fakeSockets();
  const h = handler();
  const t = new Transport({ url: 'ws://n/sync', WebSocket: FakeSocket, handler: h, minDelayMs: 20, maxDelayMs: 80, random: () => 0.999 });
  t.start();
  assert.equal(sockets.length, 1);
  assert.equal(sockets[0].binaryType, 'arraybuffer');
  for (let i = 0; i < 3; i++) {
    sockets.at(-1).refuse();
    const n = sockets.length;
    await sleep(120);
    assert.equal(sockets.length, n + 1, `attempt ${i + 2} was made`);
  }
  const gaps = sockets.slice(1).map((s, i) => s.at - sockets[i].at);
  assert.ok(gaps[2] >= gaps[0], `delays grow: ${gaps}`);
  sockets.at(-1).accept();
  assert.equal(h.openedCount, 1);
  assert.equal(t.connected, true);
  t.markHealthy();
  assert.equal(t.attempt, 0);
  sockets.at(-1).onmessage({ data: new Uint8Array([1, 2]).buffer });
  sockets.at(-1).onmessage({ data: 'text frames are ignored' });
  assert.equal(h.frames.length, 1);
  t.stop();
  assert.equal(h.closedCount, 1);
});

test('offline closes and stops retrying; online connects at once', async () => {
  const { FakeSocket, sockets } = fakeSockets();
  const h = handler();
  const t = new Transport({ url: 'ws://n', WebSocket: FakeSocket, handler: h, minDelayMs: 10, maxDelayMs: 20 });
  t.start();
  sockets[0].accept();
  t.setOnline(false);
  assert.equal(t.connected, false);
  assert.equal(h.closedCount, 1);
  await sleep(60);
  assert.equal(sockets.length, 1, 'no attempt while offline');
  t.setOnline(true);
  assert.equal(sockets.length, 2, 'online connects immediately');
  t.stop();
});

test('frames wait for their appends, keep their order, and never follow a failed append', async () => {
  const { FakeSocket, sockets } = fakeSockets();
  const t = new Transport({ url: 'ws://n', WebSocket: FakeSocket, handler: handler() });
  t.start();
  sockets[0].accept();
  let release;
  const slow = new Promise((r) => (release = r));
  t.sendAfter(slow, [new Uint8Array([1])]);
  t.sendAfter(Promise.resolve(), [new Uint8Array([2])]);
  t.sendAfter(Promise.reject(new Error('quota')), [new Uint8Array([3])]);
  t.sendAfter(Promise.resolve(), [new Uint8Array([4])]);
  await sleep(5);
  assert.equal(sockets[0].sent.length, 0, 'nothing leaves before the first append is durable');
  release();
  await sleep(5);
  assert.deepEqual(sockets[0].sent.map((f) => f[0]), [1, 2, 4]);
  t.stop();
});

test('a connection that never opens times out and is retried', async () => {
  const { FakeSocket, sockets } = fakeSockets();
  const t = new Transport({ url: 'ws://n', WebSocket: FakeSocket, handler: handler(), minDelayMs: 10, maxDelayMs: 10, connectTimeoutMs: 30 });
  t.start();
  await sleep(100);
  assert.ok(sockets.length >= 2);
  assert.equal(sockets[0].readyState, 3);
  t.stop();
});
