// Issue 10, finding 9 (the web app's side): the test knob
// localStorage['urbis.pwhashCost'] = 'minimal' makes new identities' Argon2
// cost minimal. Only the build made for the tests (dist-test, `vite build
// --mode test`) honours it; the release build (dist, what a node serves)
// has no such code and creates every identity at the interactive cost, knob
// or not (nor the Activity page's knob, urbis.activityMaxBytes). The cost
// is read back from the wrapped identity in IndexedDB
// ("UIK1" | opslimit u64 LE | memlimit u64 LE | ..., core/src/identity.cc).
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { APP, checkSetup, cleanup, launchBrowser, openApp, onboard } from './harness.mjs';
import { startNode } from '../../wasm/test/browser/harness.mjs';

after(cleanup);

const RELEASE = process.env.URBIS_WEBAPP_RELEASE;
// libsodium's crypto_pwhash_{OPS,MEM}LIMIT_{MIN,INTERACTIVE} (Argon2id).
const MIN = { ops: 1, mem: 8192 };
const INTERACTIVE = { ops: 2, mem: 67108864 };

// Every JavaScript file of a built app that mentions the knob `knob`.
function filesWithKnob(dir, knob = 'urbis.pwhashCost') {
  const out = [];
  const walk = (d) => {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (/\.(m?js|html)$/.test(e.name) && fs.readFileSync(p, 'utf8').includes(knob)) out.push(p);
    }
  };
  walk(dir);
  return out;
}

// Onboards on `dir` with the knob set (openApp sets it) and returns the
// created identity's Argon2 limits.
async function costOfNewIdentity(chrome, dir) {
  const node = await startNode({ web: dir });
  const context = await chrome.newContext();
  try {
    const page = await openApp(context, node);
    assert.equal(await page.evaluate(() => localStorage.getItem('urbis.pwhashCost')), 'minimal');
    await onboard(page);
    return await page.evaluate(async () => {
      const db = await new Promise((resolve, reject) => {
        const req = indexedDB.open('urbis');
        req.onsuccess = () => resolve(req.result);
        req.onerror = () => reject(req.error);
      });
      const wrapped = await new Promise((resolve, reject) => {
        const req = db.transaction('meta', 'readonly').objectStore('meta').get('identity');
        req.onsuccess = () => resolve(req.result);
        req.onerror = () => reject(req.error);
      });
      db.close();
      const bytes = new Uint8Array(wrapped.buffer || wrapped, wrapped.byteOffset || 0, wrapped.byteLength);
      const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
      return {
        magic: String.fromCharCode(...bytes.subarray(0, 4)),
        ops: Number(view.getBigUint64(4, true)),
        mem: Number(view.getBigUint64(12, true)),
      };
    });
  } finally {
    await context.close().catch(() => {});
    await node.stop();
  }
}

test('only the test build honours the minimal-cost knob', { timeout: 240000 }, async () => {
  checkSetup();
  assert.ok(RELEASE && fs.existsSync(path.join(RELEASE, 'index.html')), `release build (${RELEASE})`);
  assert.notEqual(path.resolve(RELEASE), path.resolve(APP), 'the tests run a build of their own');
  // The release files carry no knob; the test build's do (the control).
  assert.deepEqual(filesWithKnob(RELEASE), []);
  assert.ok(filesWithKnob(APP).length > 0, 'the test build reads the knob');
  // Likewise the Activity page's bound on the bytes of new changes it counts.
  assert.deepEqual(filesWithKnob(RELEASE, 'urbis.activityMaxBytes'), []);
  assert.ok(filesWithKnob(APP, 'urbis.activityMaxBytes').length > 0, 'the test build reads the activity knob');

  const chrome = await launchBrowser();
  const release = await costOfNewIdentity(chrome, RELEASE);
  assert.deepEqual(release, { magic: 'UIK1', ...INTERACTIVE }, 'the release build ignores the knob');
  const testBuild = await costOfNewIdentity(chrome, APP);
  assert.deepEqual(testBuild, { magic: 'UIK1', ...MIN }, 'the test build honours it');
});
