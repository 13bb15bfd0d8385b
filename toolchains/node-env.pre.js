// toolchains/node-env.pre.js — linked into every wasm executable (see
// toolchains/emscripten.cmake). Emscripten gives getenv() a fixed, fake
// environment; under Node this copies the real one in before main() runs, so
// URBIS_* knobs (seeds, bench scale) work in the wasm tests as they do natively.
// Does nothing in a browser or worker.
Module['preRun'] = [].concat(Module['preRun'] || [], function () {
  if (typeof process !== 'undefined' && process.env && typeof ENV !== 'undefined') {
    Object.assign(ENV, process.env);
  }
});
