// Browser benchmarks (docs/BENCHMARKS.md, "Browser client"), printed as
// "BENCH <name> <value> <unit>" lines:
//   - module sizes: wasm and JavaScript, raw and gzipped
//   - the core benchmark (tests/bench/core_bench.cc) inside a Chromium worker
//   - page load -> first query answered, warm and offline
//   - durable-write latency of put() (p50/p99), seen from the page
// Run by `toolchains/bootstrap.sh bench`, or by hand after building both
// release presets:
//   URBIS_BINARY=build/native-release/node/urbis-test URBIS_WEB_ROOT=build/wasm-release/wasm/web \
//     node wasm/test/browser/bench.mjs        (URBIS_BENCH_SCALE=0.1 for a smoke run)
import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';
import { checkSetup, cleanup, startNode, launchBrowser, openPage, openDb, PASS } from './harness.mjs';

const scale = Number(process.env.URBIS_BENCH_SCALE || 1);
const WEB = process.env.URBIS_WEB_ROOT;

function report(name, value, unit) {
  console.log(`BENCH ${name} ${Number(value).toFixed(1)} ${unit}`);
}
const pct = (v, p) => [...v].sort((a, b) => a - b)[Math.min(v.length - 1, Math.floor(p * v.length))];

async function main() {
  checkSetup();
  // 1. Sizes.
  const size = (files) => {
    const raw = Buffer.concat(files.map((f) => fs.readFileSync(path.join(WEB, f))));
    return [raw.length, zlib.gzipSync(raw, { level: 9 }).length];
  };
  const [wasmRaw, wasmGz] = size(['urbis_web.wasm']);
  const [loaderRaw, loaderGz] = size(['urbis_web.mjs']);
  const glue = ['urbis.js', 'worker.js', 'engine.js', 'storage.js', 'transport.js', 'rpc.js', 'passphrase.js', 'codes.js'];
  const [glueRaw, glueGz] = size(glue);
  report('browser_wasm_kb', wasmRaw / 1024, 'KB');
  report('browser_wasm_gzip_kb', wasmGz / 1024, 'KB');
  report('browser_loader_js_kb', loaderRaw / 1024, 'KB');
  report('browser_loader_js_gzip_kb', loaderGz / 1024, 'KB');
  report('browser_api_js_kb', glueRaw / 1024, 'KB');
  report('browser_api_js_gzip_kb', glueGz / 1024, 'KB');

  const node = await startNode();
  const chrome = await launchBrowser();
  const ctx = chrome.context;
  await clientBench(ctx, node);

  // 2. The core benchmark in a worker (URBIS_BENCH_SKIP_CORE=1 skips it).
  if (!process.env.URBIS_BENCH_SKIP_CORE) await coreBench(ctx, node);
}

async function coreBench(ctx, node) {
  const benchPage = await ctx.newPage();
  await benchPage.goto(`${node.http}/bench.html`);
  const res = await benchPage.evaluate((s) => window.runBench(s), scale);
  for (const line of res.lines) if (line.startsWith('BENCH ')) console.log(line);
  if (res.code !== 0) throw new Error(`core bench failed in the worker: ${res.lines.slice(-5).join('\n')}`);
  await benchPage.close();
}

async function clientBench(ctx, node) {
  // 3. Durable-write latency, and a catalogue for the load test.
  const page = await openPage(ctx, node);
  await openDb(page, node, { create: true });
  const projects = Math.max(50, Math.round(2000 * scale));
  const w = await page.evaluate(async (projects) => {
    const space = await db.createSpace('Catalogue');
    const times = [];
    for (let i = 0; i < projects; i++) {
      const t = performance.now();
      await db.put(space, 'project', 'new', {
        'title@en': `Smart solar sensor grid ${i}`,
        sector: ['energy', 'water', 'mobility'][i % 3],
        stage: 'planning',
        budget: 1000 + i,
        '+tags': 'pilot',
      });
      times.push(performance.now() - t);
    }
    await db.snapshot();
    const stats = await db.stats();
    return { space, times, idb: stats.appendMs };
  }, projects);
  report('browser_durable_put_p50_ms', pct(w.times, 0.5), 'ms');
  report('browser_durable_put_p99_ms', pct(w.times, 0.99), 'ms');
  report('browser_idb_strict_append_p50_ms', pct(w.idb, 0.5), 'ms');
  report('browser_idb_strict_append_p99_ms', pct(w.idb, 0.99), 'ms');

  // 4. Page load -> first query answered (navigation start to the answer),
  // with the module in the HTTP/service-worker cache ("warm"), then offline.
  const loadOnce = async () => {
    await page.reload({ waitUntil: 'commit' });
    await page.waitForFunction(() => !!window.Urbis, null, { timeout: 20000 });
    return page.evaluate(
      async ({ ws, pass, space }) => {
        const t0 = performance.now();
        const db = await window.Urbis.open({ node: ws, pwhashCost: 'minimal' });
        const t1 = performance.now();
        window.db = db;
        await db.unlock(pass);
        const t2 = performance.now();
        const r = await db.find(space, { type: 'project', text: 'solar', where: { sector: 'energy' }, limit: 20 });
        if (!r.total) throw new Error('no hits');
        const t3 = performance.now();
        return { total: t3, page: t0, open: t1 - t0, unlock: t2 - t1, find: t3 - t2, module: db.moduleMs, restore: (await db.stats()).restore };
      },
      { ws: node.ws, pass: PASS, space: w.space },
    );
  };
  const runs = (n) => (async () => {
    const out = [];
    for (let i = 0; i < n; i++) out.push(await loadOnce());
    return out;
  })();
  await loadOnce(); // warms the caches
  const describe = (runs) =>
    runs
      .map(
        (r) =>
          `${r.total.toFixed(0)} (page ${r.page.toFixed(0)} + open ${r.open.toFixed(0)} [module ${r.module.toFixed(0)}]` +
          ` + unlock ${r.unlock.toFixed(0)} [snapshot read ${r.restore.readSnapshotMs}, open ${r.restore.openMs}, replay ${r.restore.replayMs}]` +
          ` + find ${r.find.toFixed(0)})`,
      )
      .join('; ');
  const warm = await runs(5);
  report('browser_load_to_first_query_warm_ms', pct(warm.map((r) => r.total), 0.5), 'ms');
  await ctx.setOffline(true);
  const offline = await runs(5);
  report('browser_load_to_first_query_offline_ms', pct(offline.map((r) => r.total), 0.5), 'ms');
  await ctx.setOffline(false);
  console.log(`(${projects} projects in the browser's catalogue, restored from a snapshot; ms since navigation start)`);
  console.log(`(warm: ${describe(warm)})`);
  console.log(`(offline: ${describe(offline)})`);

  // 5. What the interactive passphrase hash adds to unlock (production cost).
  const unlockMs = await page.evaluate(async ({ ws }) => {
    const db2 = await window.Urbis.open({ node: null, name: 'bench-interactive' });
    const t = performance.now();
    await db2.createIdentity('a passphrase for the benchmark');
    return performance.now() - t;
  }, { ws: node.ws });
  report('browser_create_identity_interactive_ms', unlockMs, 'ms');
}

main()
  .then(cleanup, async (e) => {
    console.error(e);
    await cleanup();
    process.exitCode = 1;
  });
