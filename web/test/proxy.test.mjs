// TLS through a reverse proxy (issue 15): Debian's nginx runs the example
// configuration of docs/nginx-urbis.conf as it is (only its host name, ports
// and certificate paths swapped) in front of a node listening in the clear
// on loopback, with a certificate from a CA this test makes. The browser
// opens the app over https:// and syncs over wss:// through it (Chromium
// trusts exactly that certificate's key); the CLI syncs over wss:// with
// --ca-file; the node logs the address nginx forwarded.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, execFileSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  checkSetup,
  cleanup,
  startAppNode,
  seedSpace,
  launchBrowser,
  openApp,
  onboard,
  until,
  syncState,
  cli,
  tempDir,
  screenshot,
} from './harness.mjs';

after(cleanup);

const NGINX = process.env.URBIS_NGINX;
const EXAMPLE = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', '..', 'docs', 'nginx-urbis.conf');

// A CA and a server certificate for 127.0.0.1 signed by it, made with openssl.
function makeCertificates(dir) {
  const openssl = (args) => execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  openssl([
    'req',
    '-x509',
    ...ec,
    '-days',
    '2',
    '-subj',
    '/CN=Urbis proxy test CA',
    '-keyout',
    'ca.key',
    '-out',
    'ca.pem',
    '-addext',
    'basicConstraints=critical,CA:TRUE',
    '-addext',
    'keyUsage=critical,keyCertSign,cRLSign',
  ]);
  openssl([
    'req',
    ...ec,
    '-subj',
    '/CN=urbis.test',
    '-keyout',
    'site.key',
    '-out',
    'site.csr',
    '-addext',
    'subjectAltName=IP:127.0.0.1',
  ]);
  openssl([
    'x509',
    '-req',
    '-in',
    'site.csr',
    '-CA',
    'ca.pem',
    '-CAkey',
    'ca.key',
    '-CAcreateserial',
    '-days',
    '2',
    '-copy_extensions',
    'copy',
    '-out',
    'site.pem',
  ]);
  const cert = new crypto.X509Certificate(fs.readFileSync(path.join(dir, 'site.pem')));
  // What Chromium's --ignore-certificate-errors-spki-list takes: the
  // base64 SHA-256 of the certificate's SubjectPublicKeyInfo.
  const spki = crypto
    .createHash('sha256')
    .update(cert.publicKey.export({ type: 'spki', format: 'der' }))
    .digest('base64');
  return { ca: path.join(dir, 'ca.pem'), cert: path.join(dir, 'site.pem'), key: path.join(dir, 'site.key'), spki };
}

// A free TCP port on 127.0.0.1 (nginx cannot report the one it got).
function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

// docs/nginx-urbis.conf with this test's values; each swapped text must be
// in the file, so the example and the test cannot drift apart unnoticed.
function exampleConfig({ port, nodePort, cert, key }) {
  let text = fs.readFileSync(EXAMPLE, 'utf8');
  const swaps = [
    ['listen 443 ssl;', `listen 127.0.0.1:${port} ssl;`],
    ['/etc/letsencrypt/live/urbis.example.org/fullchain.pem', cert],
    ['/etc/letsencrypt/live/urbis.example.org/privkey.pem', key],
    ['http://127.0.0.1:8080', `http://127.0.0.1:${nodePort}`],
  ];
  for (const [from, to] of swaps) {
    assert.ok(text.includes(from), `docs/nginx-urbis.conf no longer has '${from}'`);
    text = text.replaceAll(from, to);
  }
  return text;
}

async function startNginx(site) {
  const prefix = tempDir('nginx');
  fs.writeFileSync(path.join(prefix, 'site.conf'), site);
  const t = (name) => path.join(prefix, name);
  fs.writeFileSync(
    t('nginx.conf'),
    `daemon off;
master_process off;
pid ${t('nginx.pid')};
error_log stderr notice;
events { worker_connections 256; }
http {
  access_log ${t('access.log')};
  client_body_temp_path ${t('body')};
  proxy_temp_path ${t('proxy')};
  fastcgi_temp_path ${t('fastcgi')};
  uwsgi_temp_path ${t('uwsgi')};
  scgi_temp_path ${t('scgi')};
  include ${t('site.conf')};
}
`,
  );
  const child = spawn(NGINX, ['-p', prefix, '-c', t('nginx.conf'), '-e', 'stderr'], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let err = '';
  child.stderr.on('data', (d) => (err = (err + d).slice(-8000)));
  const exited = new Promise((r) => child.once('exit', r));
  return {
    stderr: () => err,
    access: () => (fs.existsSync(t('access.log')) ? fs.readFileSync(t('access.log'), 'utf8') : ''),
    exited: () => child.exitCode !== null || child.signalCode !== null,
    async stop() {
      if (child.exitCode !== null || child.signalCode) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(timer);
    },
  };
}

test(
  'the web app and sync over TLS through nginx with the documented configuration',
  { timeout: 240000 },
  async (t) => {
    checkSetup();
    assert.ok(
      NGINX && fs.existsSync(NGINX),
      `webapp.proxy needs nginx (URBIS_NGINX=${NGINX}; toolchains/bootstrap.sh deps fetches it)`,
    );
    const pki = makeCertificates(tempDir('pki'));
    const node = await startAppNode();
    const admin = seedSpace(node, { cities: 8, projects: 30 });

    const port = await freePort();
    const nginx = await startNginx(exampleConfig({ port, nodePort: node.port, cert: pki.cert, key: pki.key }));
    t.after(() => nginx.stop());
    const https = `https://127.0.0.1:${port}`;
    const wss = `wss://127.0.0.1:${port}/sync`;
    // Up once /healthz answers through it.
    await until(
      'nginx to proxy /healthz',
      async () => {
        assert.ok(!nginx.exited(), `nginx exited: ${nginx.stderr()}`);
        try {
          const out = execFileSync(
            'openssl',
            [
              's_client',
              '-quiet',
              '-connect',
              `127.0.0.1:${port}`,
              '-CAfile',
              pki.ca,
              '-verify_return_error',
              '-verify_ip',
              '127.0.0.1',
            ],
            { input: 'GET /healthz HTTP/1.0\r\n\r\n', timeout: 5000, stdio: ['pipe', 'pipe', 'ignore'] },
          );
          return out.toString().includes('\r\n\r\nok\n');
        } catch {
          return false;
        }
      },
      20000,
    );

    // The CLI over wss:// through nginx: verified against the test's CA.
    const device = path.join(tempDir('device'), 'home');
    cli(device, ['init', '--name', 'Field laptop']);
    const { space } = cli(device, ['space', 'join', admin.invite('viewer'), wss, '--ca-file', pki.ca]);
    assert.equal(space, admin.space);
    const cliTotal = cli(device, ['find', admin.space, '--type', 'project', '--limit', '1']).total;
    assert.equal(cliTotal, 30);
    // The node logs the address nginx saw (X-Forwarded-For), not only its own.
    await until(
      'the node to log forwarded_for',
      async () => /"forwarded_for":"127\.0\.0\.1"/.test(node.stderr()),
      10000,
    );

    // The browser: the app over https://, its sync over wss:// (the page's
    // scheme decides), through the same nginx.
    const chrome = await launchBrowser(null, [`--ignore-certificate-errors-spki-list=${pki.spki}`]);
    const page = await openApp(chrome.context, { http: https });
    assert.equal(await page.evaluate(() => location.protocol), 'https:');
    await onboard(page, { invite: admin.invite('viewer') });
    await until('online over wss://', async () => (await syncState(page)) === 'online', 60000);
    const spaces = await page.evaluate(() => window.urbisDb.spaces());
    assert.deepEqual(
      spaces.map((s) => s.space),
      [admin.space],
    );
    const hits = await page.evaluate((space) => window.urbisDb.find(space, { type: 'project', limit: 1 }), admin.space);
    assert.equal(hits.total, cliTotal);
    assert.match(nginx.access(), /"GET \/sync HTTP\/1\.1" 101 /);
    await screenshot(page, 'proxy-https');
  },
);
