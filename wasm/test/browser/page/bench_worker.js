// Runs the core benchmark's main() inside a dedicated worker, printing each
// stdout line back to the page.
import createBenchModule from './urbis_bench_web.mjs';

self.onmessage = async (e) => {
  const scale = String(e.data.scale ?? 1);
  const send = (line) => self.postMessage({ line });
  const m = await createBenchModule({ print: send, printErr: send });
  m.ENV.URBIS_BENCH_SCALE = scale;
  let code = 0;
  try {
    code = m.callMain([]);
  } catch (err) {
    send(`bench: ${err && err.message ? err.message : err}`);
    code = 1;
  }
  self.postMessage({ done: true, code });
};
