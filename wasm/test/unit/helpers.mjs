// Shared by the unit tests: loads the Node build of the module and the
// JavaScript glue from the web root (both paths come from ctest).
import 'fake-indexeddb/auto';
import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';
import path from 'node:path';

const require = createRequire(import.meta.url);

function need(name) {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set: run through ctest (wasm-release preset)`);
  return v;
}

// A fresh instance of the wasm module (each has its own memory and MEMFS,
// like a new worker after a reload).
export async function newModule() {
  const factory = require(need('URBIS_NODE_MODULE'));
  return factory();
}

export async function glue(file) {
  return import(pathToFileURL(path.join(need('URBIS_WEB_ROOT'), file)).href);
}

let counter = 0;
export function uniqueName(prefix = 'db') {
  counter += 1;
  return `${prefix}-${process.pid}-${counter}-${Date.now()}`;
}

// An Engine on a fresh module, without sync unless `node` is given.
export async function openEngine(name, extra = {}) {
  const { Engine } = await glue('engine.js');
  const events = [];
  const engine = new Engine({
    module: await newModule(),
    indexedDB: globalThis.indexedDB,
    name,
    pwhashCost: 'minimal',
    node: null,
    emit: (event, data) => events.push({ event, data }),
    ...extra,
  });
  await engine.init();
  engine.events = events;
  return engine;
}
