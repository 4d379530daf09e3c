import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import sharp from 'sharp';
import { downloadBytes, type Resolver } from '../src/net/index.ts';
import { rejectsWith } from './helpers/net.ts';

interface TestServer {
  origin: string;
  port: number;
  /** Request paths seen, in order. */
  requests: string[];
  headers: http.IncomingHttpHeaders[];
  close(): Promise<void>;
}

async function serve(handler: http.RequestListener): Promise<TestServer> {
  const requests: string[] = [];
  const headers: http.IncomingHttpHeaders[] = [];
  const server = http.createServer((req, res) => {
    requests.push(req.url ?? '');
    headers.push(req.headers);
    handler(req, res);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    origin: `http://127.0.0.1:${port}`,
    port,
    requests,
    headers,
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** Write `total` bytes (JPEG magic first) honouring backpressure; resolves with bytes written when the response closes. */
function streamJpegLike(res: http.ServerResponse, total: number): Promise<{ written: number; finished: boolean }> {
  return new Promise((resolve) => {
    let written = 0;
    const chunk = Buffer.alloc(64 * 1024);
    chunk.set([0xff, 0xd8, 0xff, 0xe0]);
    res.on('close', () => resolve({ written, finished: res.writableFinished }));
    const pump = (): void => {
      while (written < total && !res.destroyed) {
        written += chunk.length;
        if (!res.write(written === chunk.length ? chunk : Buffer.alloc(chunk.length))) {
          res.once('drain', pump);
          return;
        }
      }
      if (!res.destroyed) res.end();
    };
    pump();
  });
}

const FAST = { connectMs: 1000, headersMs: 1000, bodyIdleMs: 1000, totalMs: 3000 };

describe('downloadBytes', () => {
  let png: Buffer;
  let jpeg: Buffer;
  let srv: TestServer;
  const routes = new Map<string, http.RequestListener>();

  before(async () => {
    const img = sharp({ create: { width: 8, height: 8, channels: 3, background: { r: 200, g: 40, b: 90 } } });
    png = await img.clone().png().toBuffer();
    jpeg = await img.clone().jpeg().toBuffer();
    srv = await serve((req, res) => {
      const route = routes.get(new URL(req.url ?? '/', 'http://x').pathname);
      if (route) route(req, res);
      else res.writeHead(404).end('not found');
    });
    routes.set('/flower.png', (_req, res) => res.writeHead(200, { 'content-type': 'text/plain' }).end(png));
    routes.set('/flower.jpg', (_req, res) => res.writeHead(200).end(jpeg));
    routes.set('/boom', (_req, res) => res.writeHead(500).end('oops'));
    routes.set('/redirect', (_req, res) => res.writeHead(302, { location: '/flower.jpg' }).end());
    routes.set('/loop-a', (_req, res) => res.writeHead(302, { location: '/loop-b' }).end());
    routes.set('/loop-b', (_req, res) => res.writeHead(301, { location: `${srv.origin}/loop-a` }).end());
    for (let i = 0; i < 6; i++) routes.set(`/chain${i}`, (_req, res) => res.writeHead(307, { location: `/chain${i + 1}` }).end());
    routes.set('/chain6', (_req, res) => res.writeHead(200).end(png));
  });
  after(() => srv.close());

  const opts = () => ({ allowOrigins: [srv.origin], timeouts: FAST });

  it('downloads an image and sniffs its type from the bytes, not the header', async () => {
    const got = await downloadBytes(`${srv.origin}/flower.png`, opts());
    assert.deepEqual(got.bytes, png);
    assert.equal(got.kind, 'png');
    assert.equal(got.contentType, 'image/png');
    assert.equal(got.finalUrl, `${srv.origin}/flower.png`);
    assert.equal(got.sha256, createHash('sha256').update(png).digest('hex'));
  });

  it('follows a redirect and reports the final URL', async () => {
    const got = await downloadBytes(`${srv.origin}/redirect`, opts());
    assert.equal(got.kind, 'jpeg');
    assert.equal(got.finalUrl, `${srv.origin}/flower.jpg`);
  });

  it('refuses a declared Content-Length above the cap without reading the body', async () => {
    let closed!: Promise<{ written: number; finished: boolean }>;
    routes.set('/declared-big', (_req, res) => {
      res.writeHead(200, { 'content-length': String(20 * 1024 * 1024) });
      closed = streamJpegLike(res, 20 * 1024 * 1024);
    });
    const err = await rejectsWith(downloadBytes(`${srv.origin}/declared-big`, { ...opts(), maxBytes: 1024 * 1024 }), 'TOO_LARGE');
    assert.match(err.message, /larger than 1 MB/);
    const seen = await closed;
    assert.equal(seen.finished, false);
  });

  it('stops reading at the cap when the size is not declared (server sees the connection close)', async () => {
    const total = 50 * 1024 * 1024;
    let closed!: Promise<{ written: number; finished: boolean }>;
    routes.set('/endless', (_req, res) => {
      res.writeHead(200); // chunked, no Content-Length
      closed = streamJpegLike(res, total);
    });
    await rejectsWith(downloadBytes(`${srv.origin}/endless`, { ...opts(), maxBytes: 1024 * 1024 }), 'TOO_LARGE');
    const seen = await closed;
    assert.equal(seen.finished, false);
    assert.ok(seen.written < total / 2, `server wrote ${seen.written} bytes`);
  });

  it('gives up on a trickling server at the overall deadline', async () => {
    routes.set('/trickle', (_req, res) => {
      res.writeHead(200);
      res.write(Buffer.from([0xff, 0xd8, 0xff, 0xe0]));
      const t = setInterval(() => res.write(Buffer.alloc(1)), 50);
      res.on('close', () => clearInterval(t));
    });
    const started = Date.now();
    const err = await rejectsWith(downloadBytes(`${srv.origin}/trickle`, { ...opts(), timeouts: { ...FAST, totalMs: 400 } }), 'TIMEOUT');
    assert.ok(Date.now() - started < 1500, 'deadline honoured');
    assert.match(err.message, /took too long/);
  });

  it('times out when headers never arrive, and when the body stalls', async () => {
    routes.set('/silent', () => {});
    routes.set('/stall', (_req, res) => {
      res.writeHead(200);
      res.write(jpeg.subarray(0, 100));
    });
    const t = { connectMs: 1000, headersMs: 300, bodyIdleMs: 300, totalMs: 5000 };
    const started = Date.now();
    await rejectsWith(downloadBytes(`${srv.origin}/silent`, { ...opts(), timeouts: t }), 'TIMEOUT');
    await rejectsWith(downloadBytes(`${srv.origin}/stall`, { ...opts(), timeouts: t }), 'TIMEOUT');
    // undici runs these two timers on a coarse (~1 s) clock, so allow some slack.
    assert.ok(Date.now() - started < 4000);
  });

  it('reports HTTP errors with their status', async () => {
    const e404 = await rejectsWith(downloadBytes(`${srv.origin}/missing`, opts()), 'HTTP_STATUS');
    assert.equal(e404.status, 404);
    assert.match(e404.message, /404/);
    const e500 = await rejectsWith(downloadBytes(`${srv.origin}/boom`, opts()), 'HTTP_STATUS');
    assert.equal(e500.status, 500);
  });

  it('detects redirect loops and overly long chains', async () => {
    await rejectsWith(downloadBytes(`${srv.origin}/loop-a`, opts()), 'TOO_MANY_REDIRECTS');
    await rejectsWith(downloadBytes(`${srv.origin}/chain0`, opts()), 'TOO_MANY_REDIRECTS');
    const ok = await downloadBytes(`${srv.origin}/chain0`, { ...opts(), maxRedirects: 6 });
    assert.equal(ok.finalUrl, `${srv.origin}/chain6`);
  });

  it('refuses loopback, private, link-local and other special addresses before connecting', async () => {
    const port = srv.port;
    const blocked = [
      `http://127.0.0.1:${port}/flower.png`,
      `http://localhost:${port}/flower.png`,
      `http://[::1]:${port}/flower.png`,
      `http://[::ffff:127.0.0.1]:${port}/flower.png`,
      `http://2130706433:${port}/flower.png`, // 127.0.0.1 spelled as a number
      `http://0.0.0.0:${port}/flower.png`,
      'http://10.0.0.1/flower.png',
      'http://192.168.1.20/flower.png',
      'http://172.16.5.4/flower.png',
      'http://100.64.0.1/flower.png',
      'http://169.254.169.254/latest/meta-data/',
      'http://[fe80::1]/flower.png',
      'http://[fd00::1]/flower.png',
      'http://224.0.0.1/flower.png',
    ];
    const before = srv.requests.length;
    for (const url of blocked) {
      const err = await rejectsWith(downloadBytes(url, { timeouts: FAST }), 'BLOCKED_ADDRESS');
      assert.doesNotMatch(err.message, /127|10\.0|169\.254/);
    }
    assert.equal(srv.requests.length, before, 'no request reached the server');
  });

  it('allows loopback only when asked to', async () => {
    const got = await downloadBytes(`http://localhost:${srv.port}/flower.png`, { allowLoopback: true, timeouts: FAST });
    assert.equal(got.kind, 'png');
    await rejectsWith(downloadBytes(`http://127.0.0.1:${srv.port}/flower.png`, { allowPrivate: true, timeouts: FAST }), 'BLOCKED_ADDRESS');
  });

  it('checks every redirect hop: an allowed origin cannot bounce us to a private address', async () => {
    const targets = [`http://127.0.0.2:${srv.port}/flower.png`, `http://localhost:${srv.port}/flower.png`, 'http://10.1.2.3/x.png'];
    for (const target of targets) {
      routes.set('/bounce', (_req, res) => res.writeHead(302, { location: target }).end());
      const before = srv.requests.length;
      await rejectsWith(downloadBytes(`${srv.origin}/bounce`, opts()), 'BLOCKED_ADDRESS');
      assert.deepEqual(srv.requests.slice(before), ['/bounce'], `only the first hop for ${target}`);
    }
  });

  it('refuses a public-looking name that resolves to a private address', async () => {
    const resolver: Resolver = async () => [
      { address: '93.184.216.34', family: 4 },
      { address: '192.168.0.10', family: 4 },
    ];
    await rejectsWith(downloadBytes('http://images.example.com/a.png', { resolver, timeouts: FAST }), 'BLOCKED_ADDRESS');
  });

  it('pins the connection to the vetted address (no second DNS lookup)', async () => {
    let lookups = 0;
    // First answer is the test server; a rebinding attack would change later answers.
    const resolver: Resolver = async () =>
      lookups++ === 0 ? [{ address: '127.0.0.1', family: 4 }] : [{ address: '127.0.0.2', family: 4 }];
    const before = srv.requests.length;
    const got = await downloadBytes(`http://photos.test:${srv.port}/flower.png`, { resolver, allowLoopback: true, timeouts: FAST });
    assert.equal(got.kind, 'png');
    assert.equal(lookups, 1);
    assert.equal(srv.requests.length, before + 1);
    assert.equal(srv.headers.at(-1)?.host, `photos.test:${srv.port}`, 'Host header keeps the real name');
  });

  it('refuses non-http schemes and malformed URLs', async () => {
    for (const url of ['file:///etc/passwd', 'ftp://example.com/a.png', 'data:image/png;base64,iVBORw0KGgo=', 'javascript:alert(1)']) {
      await rejectsWith(downloadBytes(url, opts()), 'BAD_SCHEME');
    }
    await rejectsWith(downloadBytes('not a url', opts()), 'BAD_URL');
    routes.set('/to-file', (_req, res) => res.writeHead(302, { location: 'file:///etc/passwd' }).end());
    await rejectsWith(downloadBytes(`${srv.origin}/to-file`, opts()), 'BAD_SCHEME');
  });

  it('enforces the host allow-list on every hop', async () => {
    const before = srv.requests.length;
    const err = await rejectsWith(
      downloadBytes(`${srv.origin}/flower.png`, { ...opts(), allowHosts: ['cdn.discordapp.com', 'media.discordapp.net'] }),
      'HOST_NOT_ALLOWED',
    );
    assert.match(err.message, /cdn\.discordapp\.com/);
    assert.equal(srv.requests.length, before);

    const resolver: Resolver = async () => [{ address: '127.0.0.1', family: 4 }];
    const cdn = { resolver, allowLoopback: true, allowHosts: ['CDN.discordapp.com'], timeouts: FAST };
    const ok = await downloadBytes(`http://cdn.discordapp.com:${srv.port}/flower.png`, cdn);
    assert.equal(ok.kind, 'png');
    routes.set('/off-cdn', (_req, res) => res.writeHead(302, { location: `http://evil.test:${srv.port}/flower.png` }).end());
    await rejectsWith(downloadBytes(`http://cdn.discordapp.com:${srv.port}/off-cdn`, cdn), 'HOST_NOT_ALLOWED');
  });

  it('refuses text, SVG, HTML and PDF with a message saying what it was', async () => {
    const bodies: Record<string, [string | Buffer, RegExp]> = {
      '/notes.txt': ['just some text, not a flower\n', /text file/],
      '/drawing.svg': ['<?xml version="1.0"?>\n<svg xmlns="http://www.w3.org/2000/svg"></svg>', /SVG/],
      '/page.html': ['<!DOCTYPE html><html><body>hi</body></html>', /web page/],
      '/doc.pdf': ['%PDF-1.7\n%âãÏÓ\n', /PDF/],
      '/blob.bin': [Buffer.from([0, 1, 2, 3, 4, 5, 250, 251]), /doesn't look like a photo —/],
    };
    for (const [path, [body, message]] of Object.entries(bodies)) {
      routes.set(path, (_req, res) => res.writeHead(200, { 'content-type': 'image/jpeg' }).end(body));
      const err = await rejectsWith(downloadBytes(`${srv.origin}${path}`, opts()), 'NOT_AN_IMAGE');
      assert.match(err.message, message);
    }
  });

  it('gives up early on a large HTML page instead of reading all of it', async () => {
    let closed!: Promise<unknown>;
    routes.set('/big.html', (_req, res) => {
      res.writeHead(200);
      res.write('<!doctype html><html>' + ' '.repeat(1000));
      closed = new Promise((resolve) => res.on('close', resolve));
      const t = setInterval(() => res.write(' '.repeat(1000)), 20);
      res.on('close', () => clearInterval(t));
    });
    await rejectsWith(downloadBytes(`${srv.origin}/big.html`, opts()), 'NOT_AN_IMAGE');
    await closed;
  });

  it('keeps tokens out of messages and drops credentials on cross-origin redirects', async () => {
    const other = await serve((_req, res) => res.writeHead(200).end(png));
    try {
      routes.set('/same', (_req, res) => res.writeHead(302, { location: '/flower.png' }).end());
      routes.set('/cross', (_req, res) => res.writeHead(302, { location: `${other.origin}/flower.png` }).end());
      const secret = { authorization: 'Bot SECRET-TOKEN', cookie: 'session=SECRET' };
      const o = { allowOrigins: [srv.origin, other.origin], timeouts: FAST, headers: secret };

      await downloadBytes(`${srv.origin}/same`, o);
      assert.equal(srv.headers.at(-1)?.authorization, 'Bot SECRET-TOKEN');
      await downloadBytes(`${srv.origin}/cross`, o);
      assert.equal(other.headers.at(-1)?.authorization, undefined);
      assert.equal(other.headers.at(-1)?.cookie, undefined);

      const err = await rejectsWith(downloadBytes(`${srv.origin}/missing?token=SECRET`, o), 'HTTP_STATUS');
      assert.doesNotMatch(`${err.message} ${err.detail ?? ''}`, /SECRET/);
    } finally {
      await other.close();
    }
  });

  it('can be cancelled by the caller', async () => {
    routes.set('/slow', () => {});
    const ac = new AbortController();
    setTimeout(() => ac.abort(), 50);
    await rejectsWith(downloadBytes(`${srv.origin}/slow`, { ...opts(), signal: ac.signal }), 'ABORTED');
  });
});
