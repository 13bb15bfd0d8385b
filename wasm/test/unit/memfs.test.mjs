// The module's MEMFS growth (toolchains/memfs-growth.pre.js): a file that
// grows past its capacity doubles, then grows by half past 64 MiB, and keeps
// every byte it held. Emscripten's own policy (1/8 past 1 MiB) would copy a
// growing SQLite store about eight times over.
import { test } from "node:test";
import assert from "node:assert/strict";
import { newModule } from "./helpers.mjs";

const MiB = 1024 * 1024;

// Appends `bytes` to the open stream in writes of at most 1 MiB; returns the
// file's capacity after each write that changed it.
function append(FS, stream, bytes, fill) {
  const chunk = new Uint8Array(Math.min(bytes, MiB)).fill(fill);
  const capacities = [];
  for (let left = bytes; left > 0; left -= chunk.length) {
    FS.write(stream, chunk, 0, Math.min(left, chunk.length));
    const cap = stream.node.contents.length;
    if (cap !== capacities.at(-1)) capacities.push(cap);
  }
  return capacities;
}

test("a growing MEMFS file doubles to 64 MiB, then grows by half, and keeps its bytes", async () => {
  const { FS } = await newModule();
  const stream = FS.open("/grow.bin", "w+");
  append(FS, stream, 3 * MiB, 1);
  assert.equal(
    stream.node.contents.length,
    4 * MiB,
    "past 2 MiB: doubled (Emscripten alone: 2.25 MiB)",
  );
  append(FS, stream, 61 * MiB, 2); // 64 MiB in all: exactly full
  assert.equal(stream.node.contents.length, 64 * MiB);
  const last = append(FS, stream, 1, 3);
  assert.deepEqual(
    last,
    [96 * MiB],
    "past 64 MiB: by half (Emscripten alone: 72 MiB)",
  );
  FS.close(stream);

  const data = FS.readFile("/grow.bin");
  assert.equal(
    data.length,
    64 * MiB + 1,
    "the file is as long as what was written, not its capacity",
  );
  assert.equal(data[0], 1);
  assert.equal(data[3 * MiB - 1], 1);
  assert.equal(data[3 * MiB], 2);
  assert.equal(data[64 * MiB - 1], 2);
  assert.equal(data[64 * MiB], 3);
  FS.unlink("/grow.bin");
});
