#!/usr/bin/env node
// Writes FILE.gz next to every compressible file of the built app (gzip -9),
// which `urbis node --web` sends to browsers that accept gzip. Skips small
// files and those gzip does not shrink. Prints the totals.
//
//   node scripts/precompress.mjs DIST_DIR
import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';

const dir = process.argv[2];
if (!dir || !fs.existsSync(dir)) {
  console.error(`usage: precompress.mjs DIST_DIR (no such directory: ${dir})`);
  process.exit(2);
}
const COMPRESSIBLE = /\.(html|js|mjs|css|wasm|json|webmanifest|svg|txt)$/;
let raw = 0;
let gz = 0;
let files = 0;
for (const entry of fs.readdirSync(dir, { recursive: true, withFileTypes: true })) {
  if (!entry.isFile() || !COMPRESSIBLE.test(entry.name)) continue;
  const file = path.join(entry.parentPath ?? entry.path, entry.name);
  const data = fs.readFileSync(file);
  if (data.length < 1024) continue;
  const packed = zlib.gzipSync(data, { level: 9 });
  if (packed.length >= data.length * 0.9) continue;
  fs.writeFileSync(`${file}.gz`, packed);
  raw += data.length;
  gz += packed.length;
  files += 1;
}
console.log(`precompressed ${files} files: ${(raw / 1024).toFixed(0)} KB -> ${(gz / 1024).toFixed(0)} KB gzipped`);
