// Issue 14, point 2: a link that trickles its body held a download slot until the
// overall 30 s deadline. Downloads now need an average rate (8 KB/s by default)
// once the body has had a grace period (5 s).
import assert from 'node:assert/strict';
import type { ServerResponse } from 'node:http';
import { after, before, test } from 'node:test';
import { ConfigError, loadConfig } from '../../src/config.ts';
import { downloadBytes, isDownloadError } from '../../src/net/index.ts';
import { startServer, type TestServer } from './helpers.ts';

const JPEG_HEAD = Buffer.from([0xff, 0xd8, 0xff, 0xe0, 0x00, 0x10, 0x4a, 0x46, 0x49, 0x46, 0x00]);

let server: TestServer;
/** Per path: whether the client hung up before the server finished. */
const closedEarly: Record<string, boolean> = {};

/** Sends `chunk` bytes every `everyMs` until `total` (Infinity = forever) or the client leaves. */
function trickle(res: ServerResponse, key: string, chunk: number, everyMs: number, total = Infinity) {
  res.writeHead(200, { 'content-type': 'image/jpeg' });
  res.write(JPEG_HEAD);
  let sent = JPEG_HEAD.length;
  closedEarly[key] = false;
  const t = setInterval(() => {
    const n = Math.min(chunk, total - sent);
    res.write(Buffer.alloc(n, 0x41));
    sent += n;
    if (sent >= total) {
      clearInterval(t);
      res.end();
    }
  }, everyMs);
  res.on('close', () => {
    clearInterval(t);
    if (sent < total) closedEarly[key] = true;
  });
}

before(async () => {
  server = await startServer((req, res) => {
    // 5 KB/s for ever: every chunk well inside the idle timeout, the average under the floor.
    if (req.url === '/slow') return trickle(res, 'slow', 1000, 200);
    // 40 KB/s, 80 KB in 2 s: above the floor.
    if (req.url === '/steady') return trickle(res, 'steady', 4000, 100, 80_000);
    res.writeHead(404).end();
  });
});
after(() => server?.close());

const opts = { allowOrigins: [] as string[], allowLoopback: true };

async function failure(p: Promise<unknown>) {
  const t0 = Date.now();
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  return { err, ms: Date.now() - t0 };
}

test('a trickling body is cut off once its average rate is under the floor (default: 8 KB/s after 5 s)', async () => {
  const { err, ms } = await failure(downloadBytes(`${server.origin}/slow`, opts));
  assert.ok(isDownloadError(err, 'TOO_SLOW'), `TOO_SLOW, got ${String(err)}`);
  assert.match((err as Error).message, /too slow \(under 8 KB\/s\).*attach the photo directly/);
  assert.ok(ms >= 4_500 && ms < 8_000, `gave up soon after the 5 s grace, not at the 30 s deadline (${ms} ms)`);
  assert.ok(closedEarly.slow, 'the connection was closed');
});

test('the floor and its grace period are options; a fast enough body is not cut off', async () => {
  const fast = { ...opts, timeouts: { minBytesPerSec: 8_000, minRateGraceMs: 1_000, totalMs: 20_000 } };
  const { err, ms } = await failure(downloadBytes(`${server.origin}/slow`, fast));
  assert.ok(isDownloadError(err, 'TOO_SLOW'), String(err));
  assert.ok(ms < 3_000, `cut off after about 1 s (${ms} ms)`);
  const got = await downloadBytes(`${server.origin}/steady`, fast);
  assert.equal(got.bytes.length, 80_000);
});

test('minBytesPerSec 0 turns the floor off (the overall deadline still applies)', async () => {
  const { err, ms } = await failure(
    downloadBytes(`${server.origin}/slow`, { ...opts, timeouts: { minBytesPerSec: 0, minRateGraceMs: 200, totalMs: 1_500 } }),
  );
  assert.ok(isDownloadError(err, 'TIMEOUT'), String(err));
  assert.ok(ms >= 1_400, `${ms} ms`);
});

test('BLOOM_MIN_DOWNLOAD_KBPS sets the floor (default 8, 0 = off) and is validated', () => {
  assert.equal(loadConfig({}).minDownloadKbps, 8);
  assert.equal(loadConfig({ BLOOM_MIN_DOWNLOAD_KBPS: '2.5' }).minDownloadKbps, 2.5);
  assert.equal(loadConfig({ BLOOM_MIN_DOWNLOAD_KBPS: '0' }).minDownloadKbps, 0);
  assert.throws(
    () => loadConfig({ BLOOM_MIN_DOWNLOAD_KBPS: '-1' }),
    (e: unknown) => e instanceof ConfigError && /BLOOM_MIN_DOWNLOAD_KBPS must be a number of KB\/s/.test(e.message),
  );
});
