// Browser-test harness: a real `urbis node` (native build) serving the web
// root, Debian's Chromium started by us (so a test can kill -9 it) and driven
// by playwright-core over CDP, and the `urbis` CLI as another device.
// Every wait is bounded; everything started is stopped by cleanup().
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { chromium } from 'playwright-core';

const BIN = process.env.URBIS_BINARY;
const WEB = process.env.URBIS_WEB_ROOT;
const CHROMIUM = process.env.URBIS_CHROMIUM || '/usr/bin/chromium';

export const PASS = 'correct horse battery';

export function checkSetup() {
  const missing = [];
  if (!BIN || !fs.existsSync(BIN)) missing.push(`urbis binary (${BIN}; build the native-release preset first)`);
  if (!WEB || !fs.existsSync(path.join(WEB, 'urbis_web.wasm'))) missing.push(`web root (${WEB})`);
  if (!fs.existsSync(CHROMIUM)) missing.push(`${CHROMIUM} (apt-get install chromium)`);
  if (missing.length) throw new Error(`browser tests need: ${missing.join('; ')}`);
}

const cleanups = [];
export async function cleanup() {
  while (cleanups.length) {
    const f = cleanups.pop();
    try {
      await f();
    } catch (e) {
      // best effort
    }
  }
}

export function tempDir(prefix) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `urbis-${prefix}-`));
  cleanups.push(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// Waits until `fn()` returns a truthy value (or resolves to one). On a
// timeout, `explain()` (if given) says what the parts saw, for the message.
export async function until(what, fn, timeoutMs = 15000, everyMs = 100, explain = null) {
  const deadline = Date.now() + timeoutMs;
  let last;
  for (;;) {
    try {
      last = await fn();
      if (last) return last;
    } catch (e) {
      last = e;
    }
    if (Date.now() > deadline) {
      let seen = '';
      if (explain) seen = await Promise.resolve().then(explain).then((x) => `; seen: ${JSON.stringify(x)}`, (e) => `; explain failed: ${e.message}`);
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what} (last: ${last && last.message ? last.message : JSON.stringify(last)})${seen}`);
    }
    await sleep(everyMs);
  }
}

// Starts `urbis node` on 127.0.0.1 (port 0: any free port) with its own home,
// serving `web` (default: the wasm client's web root); `args`: more options.
export async function startNode({ home, port = 0, web = WEB, args = [] } = {}) {
  home = home || path.join(tempDir('node'), 'home');
  const child = spawn(BIN, ['--home', home, 'node', '--listen', `127.0.0.1:${port}`, '--open-spaces', '--web', web, ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let err = '';
  child.stderr.on('data', (d) => (err = (err + d).slice(-8000)));
  const exited = new Promise((r) => child.once('exit', r));
  const line = await new Promise((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => reject(new Error(`node did not start; stderr: ${err}`)), 15000);
    child.stdout.on('data', (d) => {
      out += d;
      if (out.includes('\n')) {
        clearTimeout(timer);
        resolve(JSON.parse(out.slice(0, out.indexOf('\n'))));
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`node exited (${code}); stderr: ${err}`));
    });
  });
  const actualPort = Number(line.listening.split(':').pop());
  const node = {
    home,
    port: actualPort,
    http: `http://127.0.0.1:${actualPort}`,
    ws: `ws://127.0.0.1:${actualPort}/sync`,
    stderr: () => err,
    async stop() {
      if (child.exitCode !== null || child.signalCode) return;
      child.kill('SIGTERM');
      const t = setTimeout(() => child.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(t);
    },
  };
  cleanups.push(() => node.stop());
  return node;
}

// Starts Chromium on `profile` with remote debugging and connects to it.
// kill() is kill -9 of the whole browser (its process group).
export async function launchBrowser(profile, extraArgs = []) {
  profile = profile || tempDir('profile');
  const args = [
    '--headless=new', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync',
    '--disable-dev-shm-usage', '--no-default-browser-check', '--remote-debugging-port=0',
    '--remote-debugging-address=127.0.0.1', `--user-data-dir=${profile}`, ...extraArgs, 'about:blank',
  ];
  const child = spawn(CHROMIUM, args, { stdio: ['ignore', 'ignore', 'pipe'], detached: true });
  let err = '';
  const endpoint = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`chromium did not start; stderr: ${err}`)), 30000);
    child.stderr.on('data', (d) => {
      err = (err + d).slice(-8000);
      const m = err.match(/DevTools listening on (ws:\/\/\S+)/);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]);
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`chromium exited (${code}); stderr: ${err}`));
    });
  });
  const exited = new Promise((r) => child.once('exit', r));
  const browser = await chromium.connectOverCDP(endpoint, { timeout: 30000 });
  const killGroup = (sig) => {
    try {
      process.kill(-child.pid, sig);
    } catch (e) {
      // gone
    }
  };
  const b = {
    browser,
    profile,
    context: browser.contexts()[0],
    async newContext() {
      return browser.newContext();
    },
    async kill() {
      killGroup('SIGKILL');
      await Promise.race([exited, sleep(5000)]);
      await browser.close().catch(() => {});
    },
    async close() {
      await browser.close().catch(() => {});
      killGroup('SIGTERM');
      const t = setTimeout(() => killGroup('SIGKILL'), 5000);
      await exited;
      clearTimeout(t);
    },
  };
  cleanups.push(() => b.close());
  return b;
}

// A page of `context` on the node's test page, with window.Urbis loaded.
export async function openPage(context, node) {
  const page = await context.newPage();
  page.on('pageerror', (e) => console.error('[page error]', e.message));
  page.on('console', (m) => {
    if (m.type() === 'error') console.error('[page console]', m.text());
  });
  await page.goto(`${node.http}/index.html`, { timeout: 20000 });
  await page.waitForFunction(() => !!window.Urbis && (window.swReady || window.swError), null, { timeout: 20000 });
  return page;
}

// In the page: opens the API as window.db and creates or unlocks the
// identity. Returns the device key.
export async function openDb(page, node, { create = false, reconnect } = {}) {
  return page.evaluate(
    async ({ ws, pass, create, reconnect }) => {
      window.db = await window.Urbis.open({
        node: ws,
        pwhashCost: 'minimal',
        reconnect: reconnect || { minDelayMs: 200, maxDelayMs: 2000 },
      });
      return create ? window.db.createIdentity(pass) : window.db.unlock(pass);
    },
    { ws: node.ws, pass: PASS, create, reconnect },
  );
}

// Runs `urbis` as another device (its own home); returns the parsed JSON.
export function cli(home, args, { allowFail = false } = {}) {
  const r = spawnSync(BIN, ['--home', home, ...args], {
    env: { ...process.env, URBIS_PASSPHRASE: PASS, URBIS_PWHASH: 'minimal' },
    encoding: 'utf8',
    timeout: 30000,
  });
  if (r.status !== 0 && !allowFail) throw new Error(`urbis ${args.join(' ')} failed (${r.status}): ${r.stderr}`);
  return r.status === 0 && r.stdout.trim() ? JSON.parse(r.stdout) : { error: r.stderr, status: r.status };
}
