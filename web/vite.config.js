// Vite build of the Urbis web app. Run by CMake (web/CMakeLists.txt, target
// urbis_webapp), which passes:
//   URBIS_WASM_WEB   the wasm client's web root (build/wasm-release/wasm/web):
//                    the JavaScript API, its worker and urbis_web.{mjs,wasm};
//                    copied unbundled into <outDir>/urbis/ (the worker and the
//                    Emscripten loader find their files relative to themselves)
//   URBIS_WEB_OUT    the output directory (default web/dist)
// `npm run dev` (hot reload) proxies /sync to URBIS_NODE_URL (default
// http://127.0.0.1:8080, e.g. the demo node of `bootstrap.sh run`).
import { defineConfig } from 'vite';
import { VitePWA } from 'vite-plugin-pwa';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { makeIcons } from './scripts/make-icons.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const wasmWeb = path.resolve(here, process.env.URBIS_WASM_WEB || '../build/wasm-release/wasm/web');
const outDir = path.resolve(here, process.env.URBIS_WEB_OUT || 'dist');
// The browser client's runtime files, as the wasm build writes them.
const RUNTIME = [
  'urbis.js',
  'worker.js',
  'engine.js',
  'storage.js',
  'transport.js',
  'rpc.js',
  'passphrase.js',
  'codes.js',
  'urbis_web.mjs',
  'urbis_web.wasm',
];

// Copies the wasm client into the build as urbis/* (and serves it in dev).
function urbisRuntime() {
  const missing = () => RUNTIME.filter((f) => !fs.existsSync(path.join(wasmWeb, f)));
  return {
    name: 'urbis-runtime',
    buildStart() {
      const gone = missing();
      if (gone.length)
        this.error(
          `the wasm client is not built: ${gone.join(', ')} missing in ${wasmWeb} ` +
            '(build the wasm-release preset first, or set URBIS_WASM_WEB)',
        );
    },
    generateBundle() {
      for (const f of RUNTIME)
        this.emitFile({ type: 'asset', fileName: `urbis/${f}`, source: fs.readFileSync(path.join(wasmWeb, f)) });
      for (const icon of makeIcons())
        this.emitFile({ type: 'asset', fileName: `icons/${icon.name}`, source: icon.data });
    },
    configureServer(server) {
      server.middlewares.use((req, res, next) => {
        const m = /^\/urbis\/([\w.]+)$/.exec(req.url.split('?')[0]);
        if (!m || !RUNTIME.includes(m[1])) return next();
        res.setHeader('Content-Type', m[1].endsWith('.wasm') ? 'application/wasm' : 'text/javascript');
        fs.createReadStream(path.join(wasmWeb, m[1])).pipe(res);
      });
    },
  };
}

export default defineConfig({
  base: './',
  esbuild: { jsx: 'automatic', jsxImportSource: 'preact' },
  server: { proxy: { '/sync': { target: process.env.URBIS_NODE_URL || 'http://127.0.0.1:8080', ws: true } } },
  build: { outDir, emptyOutDir: true, target: 'es2022', reportCompressedSize: false, chunkSizeWarningLimit: 600 },
  plugins: [
    urbisRuntime(),
    VitePWA({
      // A new version installs in the background and takes over on the next
      // start; the app announces it (src/pwa.js) and offers to reload now.
      registerType: 'prompt',
      injectRegister: false,
      filename: 'sw.js',
      manifest: {
        name: 'Urbis — Discover and Plan',
        short_name: 'Urbis',
        description:
          'Offline-first collaboration for city networks: discover projects, needs and practices; plan together.',
        lang: 'en',
        start_url: './',
        scope: './',
        display: 'standalone',
        background_color: '#f7f8fa',
        theme_color: '#0b5cad',
        icons: [
          { src: 'icons/icon-192.png', sizes: '192x192', type: 'image/png' },
          { src: 'icons/icon-512.png', sizes: '512x512', type: 'image/png' },
          { src: 'icons/icon-maskable-512.png', sizes: '512x512', type: 'image/png', purpose: 'maskable' },
        ],
      },
      workbox: {
        // The app shell, the wasm module, the worker, the catalogs and the map.
        globPatterns: ['**/*.{html,js,mjs,css,wasm,json,png,svg,webmanifest}'],
        maximumFileSizeToCacheInBytes: 8 * 1024 * 1024,
        navigateFallback: 'index.html',
        navigateFallbackDenylist: [/^\/sync/, /^\/healthz/, /^\/metrics/],
        cleanupOutdatedCaches: true,
      },
    }),
  ],
});
