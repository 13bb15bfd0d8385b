// The app's icons, drawn here as PNGs (no image tool needed at build time):
// a rounded blue square with a white skyline of three towers over a road.
// Returns [{name, data}]; the Vite config emits them into icons/.
import zlib from 'node:zlib';

const BLUE = [11, 92, 173, 255];
const WHITE = [255, 255, 255, 255];
const CLEAR = [0, 0, 0, 0];

function crc32(buf) {
  let c,
    crc = 0xffffffff;
  for (let n = 0; n < buf.length; n++) {
    c = (crc ^ buf[n]) & 0xff;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    crc = (crc >>> 8) ^ c;
  }
  return (crc ^ 0xffffffff) >>> 0;
}

function chunk(type, data) {
  const len = Buffer.alloc(4);
  len.writeUInt32BE(data.length);
  const body = Buffer.concat([Buffer.from(type, 'ascii'), data]);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(body));
  return Buffer.concat([len, body, crc]);
}

// pixel(x, y) in unit coordinates [0,1) -> RGBA
function png(size, pixel) {
  const raw = Buffer.alloc((size * 4 + 1) * size);
  for (let y = 0; y < size; y++) {
    raw[y * (size * 4 + 1)] = 0; // filter: none
    for (let x = 0; x < size; x++) {
      const rgba = pixel((x + 0.5) / size, (y + 0.5) / size);
      raw.set(rgba, y * (size * 4 + 1) + 1 + x * 4);
    }
  }
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(size, 0);
  ihdr.writeUInt32BE(size, 4);
  ihdr.set([8, 6, 0, 0, 0], 8); // 8-bit RGBA
  return Buffer.concat([
    Buffer.from([137, 80, 78, 71, 13, 10, 26, 10]),
    chunk('IHDR', ihdr),
    chunk('IDAT', zlib.deflateSync(raw, { level: 9 })),
    chunk('IEND', Buffer.alloc(0)),
  ]);
}

// The skyline in a box of unit size: towers and a road, white.
function skyline(x, y) {
  const towers = [
    [0.22, 0.4, 0.46],
    [0.42, 0.58, 0.26],
    [0.62, 0.78, 0.38],
  ]; // x0, x1, top
  if (y > 0.7 && y < 0.76 && x > 0.16 && x < 0.84) return true; // road
  return towers.some(([x0, x1, top]) => x >= x0 && x < x1 && y >= top && y < 0.66);
}

function inRounded(x, y, inset, r) {
  const lo = inset,
    hi = 1 - inset;
  if (x < lo || x > hi || y < lo || y > hi) return false;
  const cx = Math.min(Math.max(x, lo + r), hi - r),
    cy = Math.min(Math.max(y, lo + r), hi - r);
  return (x - cx) ** 2 + (y - cy) ** 2 <= r * r;
}

export function makeIcons() {
  const any = (x, y) => (!inRounded(x, y, 0.02, 0.18) ? CLEAR : skyline(x, y) ? WHITE : BLUE);
  // Maskable: full bleed, artwork inside the 80% safe zone.
  const maskable = (x, y) => (skyline(0.5 + (x - 0.5) / 0.8, 0.5 + (y - 0.5) / 0.8) ? WHITE : BLUE);
  return [
    { name: 'icon-192.png', data: png(192, any) },
    { name: 'icon-512.png', data: png(512, any) },
    { name: 'icon-maskable-512.png', data: png(512, maskable) },
    { name: 'apple-touch-icon.png', data: png(180, maskable) },
  ];
}
