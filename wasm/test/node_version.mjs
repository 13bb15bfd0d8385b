// The Node.js that runs the JavaScript and browser tests (ctest wasm.node):
// at least the version the packages' `engines` ask (web/package.json), and,
// under toolchains/bootstrap.sh (which exports URBIS_NODE_BIN), the one it
// pinned in toolchains/node.lock, whatever `node` was first on PATH.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const wanted = JSON.parse(fs.readFileSync(path.join(root, 'web', 'package.json'), 'utf8')).engines.node;
const floor = Number(/^>=(\d+)/.exec(wanted)?.[1]);
assert.ok(floor >= 20, `web/package.json asks for node ${wanted}`);
const major = Number(process.versions.node.split('.')[0]);
assert.ok(major >= floor, `tests run under Node ${process.version}, web/package.json asks for ${wanted}`);
const pinned = /^version (\S+)$/m.exec(fs.readFileSync(path.join(root, 'toolchains', 'node.lock'), 'utf8'))[1];
if (process.env.URBIS_NODE_BIN) {
  assert.equal(fs.realpathSync(process.execPath), fs.realpathSync(process.env.URBIS_NODE_BIN), 'the pinned Node runs the tests');
  assert.equal(process.version, `v${pinned}`);
}
console.log(`tests run under Node ${process.version} (${process.execPath}); pinned: ${pinned}; engines: ${wanted}`);
