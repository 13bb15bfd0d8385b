// Per-write cost of the browser client as a space's history grows: the Node
// build of the module (urbis_node.cjs), driven through the C ABI as
// wasm/js/engine.js drives it (IndexedDB left out), creates 1,000 entities
// and then edits them, one field per `put`; prints the mean per put over each
// tenth of the edits as "BENCH browser_client_put_after_<n>_ms <ms> ms".
// A flat row is the point (issue 13): the client hands the host the envelope
// its commit made, without querying the space's history.
// Not a test; by hand, after building the wasm-release preset:
//   NODE_OPTIONS=--no-experimental-fetch node wasm/test/put_history_bench.cjs \
//     build/wasm-release/wasm/urbis_node.cjs [edits, default 20000]
const factory = require(require('node:path').resolve(process.argv[2] || 'build/wasm-release/wasm/urbis_node.cjs'));
const EDITS = Number(process.argv[3] || 20000);

(async () => {
  const m = await factory();
  const call = (method, params = {}) => {
    const req = JSON.stringify({ method, params });
    const n = m.lengthBytesUTF8(req) + 1;
    const p = m._malloc(n);
    m.stringToUTF8(req, p, n);
    const r = m._urbis_call(p);
    m._free(p);
    const out = JSON.parse(m.UTF8ToString(r));
    m._urbis_free(r);
    for (const box of [0, 1, 2]) m._urbis_outbox_clear(box); // the host's part: taken, dropped
    if (out.error) throw new Error(`${method}: ${out.error.message}`);
    return out.result;
  };
  call('identityCreate', { passphrase: 'a passphrase for the benchmark', cost: 'minimal' });
  m.FS.mkdirTree('/urbis');
  call('replicaOpen', { path: '/urbis/bench.db' });
  const { space } = call('createSpace', { name: 'Bench' });
  const ids = [];
  for (let i = 0; i < 1000; i++)
    ids.push(call('put', { space, type: 'project', id: 'new', fields: { title: `p${i}`, n: i, a: 1, b: 2, c: 3, d: 4, e: 5, f: 6 } }).id);
  const step = Math.max(1, Math.floor(EDITS / 10));
  let t = performance.now();
  for (let i = 1; i <= EDITS; i++) {
    call('put', { space, type: 'project', id: ids[i % ids.length], fields: { n: i } });
    if (i % step === 0) {
      console.log(`BENCH browser_client_put_after_${i - step}_ms ${((performance.now() - t) / step).toFixed(3)} ms`);
      t = performance.now();
    }
  }
})().catch((e) => {
  console.error(e);
  process.exitCode = 1;
});
