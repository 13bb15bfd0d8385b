// The main-thread API (urbis.js) over postMessage RPC to an Engine served as
// worker.js serves it, through a MessageChannel: promises, errors with
// .code/.codeName, subscriptions and status.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MessageChannel } from 'node:worker_threads';
import { glue, newModule, uniqueName } from './helpers.mjs';

const { Urbis, Codes } = await glue('urbis.js');
const { Engine } = await glue('engine.js');
const { serve } = await glue('rpc.js');

// What worker.js does, on one end of a channel.
function serveEngine(port) {
  let engine = null;
  const emit = serve(port, async (method, args) => {
    if (method === 'open') {
      engine = new Engine({ ...args[0], module: await newModule(), indexedDB: globalThis.indexedDB, emit });
      return engine.init();
    }
    if (method === 'setOnline') return engine.setOnline(args[0]);
    return engine[method](...args);
  });
}

test('Urbis.open over a port: calls, errors with codes, subscribe, status', async () => {
  const { port1, port2 } = new MessageChannel();
  serveEngine(port1);
  const db = await Urbis.open({ port: port2, name: uniqueName(), pwhashCost: 'minimal', node: null });
  assert.equal(db.hasIdentity, false);

  await assert.rejects(db.spaces(), (e) => e instanceof Error && e.code === Codes.NoKey && e.codeName === 'NoKey');
  const device = await db.createIdentity('correct horse');
  assert.equal(await db.device(), device);
  const space = await db.createSpace('S');
  assert.match(space, /^[0-9a-f]{32}$/);

  const seen = [];
  const off = db.subscribe(space, (e) => seen.push(e));
  const all = [];
  db.subscribe('*', (e) => all.push(e));
  const { id } = await db.put(space, 'project', 'new', { 'title@en': 'Bus lanes' });
  const entity = await db.get(space, 'project', id, { lang: 'fr' });
  assert.equal(entity.values.title, 'Bus lanes');
  assert.deepEqual(entity.missingTranslations, ['title']);
  // The old snake_case name is readable for one release, but not enumerated.
  assert.deepEqual(entity.missing_translations, ['title']);
  assert.equal(Object.keys(entity).includes('missing_translations'), false);
  assert.deepEqual(seen.map((e) => e.origin), ['local']);
  assert.equal(all.length, 1);
  off();
  await db.put(space, 'project', id, { stage: 'idea' });
  assert.equal(seen.length, 1, 'unsubscribed');

  await assert.rejects(db.get(space, 'project', 'zz'), (e) => e.code === Codes.InvalidArgument);
  await assert.rejects(db.joinSpace('abc'), (e) => e.codeName === 'InvalidArgument' && /urbis1-/.test(e.message));
  await assert.rejects(db.find(space, { sort: 'sideways' }), (e) => e.codeName === 'InvalidArgument');

  const status = await db.syncStatus();
  assert.equal(status.state, 'offline');
  assert.ok(status.pending >= 3, 'the space genesis and two puts, never acknowledged');
  assert.equal((await db.find(space, { text: 'bus' })).total, 1);
  assert.match(await db.stateHash(space), /^[0-9a-f]{64}$/);
  await db.close();
  port2.close();
});
