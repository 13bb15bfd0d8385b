// toolchains/memfs-growth.pre.js — linked into every wasm executable (the
// top-level CMakeLists.txt), the browser's module included. Every SQLite
// store in wasm is a file in Emscripten's MEMFS: one typed array per file,
// which MEMFS replaces by a larger copy when a write passes its end. Past
// 1 MiB it grows by 1/8, so each byte of a growing store is copied about
// eight times over the store's life, and a 100 MB store copies all of it at
// each 12 MB of growth. Here: double up to 64 MiB, then grow by half (each
// byte copied about twice; the unused tail at most half the file). Measured
// in docs/BENCHMARKS.md ("MEMFS growth").
Module['preRun'] = [].concat(Module['preRun'] || [], function () {
  if (typeof MEMFS === 'undefined' || typeof MEMFS.expandFileStorage !== 'function') return;
  const expand = MEMFS.expandFileStorage;
  const DOUBLING_MAX = 64 * 1024 * 1024;
  MEMFS.expandFileStorage = function (node, newCapacity) {
    const prev = node.contents ? node.contents.length : 0;
    if (prev >= newCapacity) return;
    const grown = prev < DOUBLING_MAX ? prev * 2 : prev + Math.floor(prev / 2);
    return expand.call(this, node, Math.max(newCapacity, grown));
  };
});
