// Issue 6, part 2: hostile downloads through `/identify url:` and attachments, served by
// local HTTP servers: oversized bodies, tricklers, errors, redirect games, SSRF targets.
import assert from 'node:assert/strict';
import type { ServerResponse } from 'node:http';
import { after, before, describe, test } from 'node:test';
import { ConfigError, loadConfig } from '../../src/config.ts';
import { photo, startHarness, type Harness } from '../helpers/botHarness.ts';
import { bodyText, finalResponse, postPhoto, replyTo, startServer, textOf, type TestServer } from './helpers.ts';

const MiB = 1024 * 1024;
const JPEG_HEAD = Buffer.from([0xff, 0xd8, 0xff, 0xe0, 0x00, 0x10, 0x4a, 0x46, 0x49, 0x46, 0x00]);

let h: Harness;
/** The server the bot is told it may reach (like a public image host). */
let good: TestServer;
/** Another local server that is NOT allowed: it must never see a connection. */
let other: TestServer;

/** What the streaming endpoints observed: how much they sent and whether the client hung up first. */
interface StreamLog {
  sent: number;
  total: number;
  closedEarly: boolean;
  closedAt?: number;
}
const streams: Record<string, StreamLog> = {};
let photoBytes: Buffer;

function pump(res: ServerResponse, key: string, total: number, chunkSize = 64 * 1024) {
  const s: StreamLog = (streams[key] = { sent: 0, total, closedEarly: false });
  const chunk = Buffer.alloc(chunkSize, 0x41);
  res.on('close', () => {
    s.closedEarly = !res.writableFinished;
    s.closedAt = Date.now();
  });
  const more = () => {
    while (s.sent < total && !res.destroyed) {
      const part = s.sent === 0 ? Buffer.concat([JPEG_HEAD, chunk.subarray(JPEG_HEAD.length)]) : chunk;
      s.sent += part.length;
      if (!res.write(part)) return void res.once('drain', more);
    }
    if (!res.destroyed) res.end();
  };
  more();
}

before(async () => {
  other = await startServer((_req, res) => res.end('should never be reached'));
  good = await startServer((req, res) => {
    const url = new URL(req.url!, 'http://x');
    const p = url.pathname;
    if (p === '/photo.jpg') return void res.writeHead(200, { 'content-type': 'image/jpeg' }).end(photoBytes);
    if (p === '/big-chunked') {
      res.writeHead(200, { 'content-type': 'image/jpeg' }); // no Content-Length: the cap must bite while streaming
      return pump(res, 'chunked', 64 * MiB);
    }
    if (p === '/big-declared') {
      res.writeHead(200, { 'content-type': 'image/jpeg', 'content-length': String(8 * MiB) });
      return pump(res, 'declared', 8 * MiB);
    }
    if (p === '/trickle') {
      const s: StreamLog = (streams.trickle = { sent: 0, total: Infinity, closedEarly: false });
      res.writeHead(200, { 'content-type': 'image/jpeg' });
      res.write(JPEG_HEAD);
      const t = setInterval(() => {
        res.write(Buffer.from([0x42]));
        s.sent++;
      }, 150);
      res.on('close', () => {
        clearInterval(t);
        s.closedEarly = true;
        s.closedAt = Date.now();
      });
      return;
    }
    if (p === '/stall') {
      const s: StreamLog = (streams.stall = { sent: 0, total: Infinity, closedEarly: false });
      req.socket.on('close', () => {
        s.closedEarly = true;
        s.closedAt = Date.now();
      });
      return; // never answers
    }
    if (p === '/404') return void res.writeHead(404).end('nope');
    if (p === '/500') return void res.writeHead(500).end('boom');
    if (p === '/loop-a') return void res.writeHead(302, { location: '/loop-b' }).end();
    if (p === '/loop-b') return void res.writeHead(302, { location: '/loop-a' }).end();
    const chain = /^\/chain\/(\d+)$/.exec(p);
    if (chain) return void res.writeHead(302, { location: `/chain/${Number(chain[1]) + 1}` }).end();
    if (p === '/to-other') return void res.writeHead(302, { location: `${other.origin}/photo.jpg` }).end();
    if (p === '/to-metadata') return void res.writeHead(302, { location: 'http://169.254.169.254/latest/meta-data/' }).end();
    if (p === '/to-file') return void res.writeHead(302, { location: 'file:///etc/passwd' }).end();
    res.writeHead(404).end();
  });
  h = await startHarness(
    { BLOOM_MAX_IMAGE_MB: '1', BLOOM_DOWNLOAD_TIMEOUT_S: '2', BLOOM_WORKERS: '1' },
    // The good server is reachable under two names; only 127.0.0.1 is a "CDN host" for attachments.
    { allowOrigins: [good.origin, `http://localhost:${good.port}`] },
  );
  photoBytes = photo(h, '2');
});
after(async () => {
  await h?.stop();
  await good?.close();
  await other?.close();
});

const row = (sourceId: string) =>
  h.app.store.db.prepare('SELECT error_code FROM predictions WHERE source_id = ?').get(sourceId) as
    { error_code: string | null } | undefined;

/** `/identify url:`; resolves with the answer text, whether it was ephemeral, the logged error code and how long it took. */
async function identifyUrl(url: string) {
  const t0 = Date.now();
  const { id } = await h.emu.invokeCommand({ name: 'identify', options: { url } });
  const r = await finalResponse(h, id, 20_000);
  return {
    text: bodyText(r),
    ephemeral: (r.flags & 64) === 64,
    ok: r.kind === 'editOriginal',
    code: row(id)?.error_code,
    ms: Date.now() - t0,
  };
}

describe('/identify url:', () => {
  test('an allowed origin works (so the refusals below are not "everything fails")', async () => {
    const r = await identifyUrl(`${good.origin}/photo.jpg`);
    assert.ok(r.ok, r.text);
    assert.match(r.text, /Green Square/);
  });

  test('a body larger than BLOOM_MAX_IMAGE_MB is cut off mid-stream', async () => {
    const r = await identifyUrl(`${good.origin}/big-chunked`);
    assert.ok(r.ephemeral);
    assert.match(r.text, /larger than 1 MB/);
    assert.equal(r.code, 'TOO_LARGE');
    const s = streams.chunked!;
    assert.ok(s.closedEarly, 'the server saw the connection closed before it finished');
    assert.ok(s.sent < s.total / 4, `stopped reading early (server sent ${s.sent} of ${s.total} bytes before the close)`);
  });

  test('a Content-Length above the cap is refused before the body is read', async () => {
    const r = await identifyUrl(`${good.origin}/big-declared`);
    assert.match(r.text, /larger than 1 MB/);
    assert.equal(r.code, 'TOO_LARGE');
    assert.ok(streams.declared!.closedEarly, 'connection closed before the whole body');
  });

  test('a trickling server and a silent one time out after BLOOM_DOWNLOAD_TIMEOUT_S', async () => {
    const [trickle, stall] = await Promise.all([identifyUrl(`${good.origin}/trickle`), identifyUrl(`${good.origin}/stall`)]);
    for (const [name, r] of [
      ['trickle', trickle],
      ['stall', stall],
    ] as const) {
      assert.match(r.text, /took too long/, name);
      assert.equal(r.code, 'TIMEOUT', name);
      assert.ok(r.ms >= 1500 && r.ms < 9000, `${name}: gave up after about 2 s (took ${r.ms} ms)`);
      assert.ok(streams[name]!.closedEarly, `${name}: the bot hung up`);
    }
    assert.ok(streams.trickle!.sent >= 5, 'the trickler was really sending (so the idle timeout alone would not have fired)');
  });

  test('404 and 500 get a clear message', async () => {
    const [nf, se] = await Promise.all([identifyUrl(`${good.origin}/404`), identifyUrl(`${good.origin}/500`)]);
    assert.match(nf.text, /couldn't find that file \(HTTP 404\)/);
    assert.match(se.text, /had a problem \(HTTP 500\)/);
    assert.deepEqual([nf.code, se.code], ['HTTP_STATUS', 'HTTP_STATUS']);
  });

  test('a redirect loop and an endless redirect chain are cut short', async () => {
    const before = good.requests.length;
    const [loop, chain] = await Promise.all([identifyUrl(`${good.origin}/loop-a`), identifyUrl(`${good.origin}/chain/0`)]);
    for (const r of [loop, chain]) {
      assert.match(r.text, /redirects too many times/);
      assert.equal(r.code, 'TOO_MANY_REDIRECTS');
    }
    assert.ok(good.requests.length - before <= 2 + 4, `a handful of requests, not an endless chase (${good.requests.length - before})`);
  });

  test('private, loopback, link-local and non-http targets are refused before connecting', async () => {
    const blocked = [
      `${other.origin}/photo.jpg`, // loopback on a port that was not allowed
      `http://localhost:${other.port}/photo.jpg`,
      `http://[::1]:${other.port}/photo.jpg`,
      `http://[::ffff:127.0.0.1]:${other.port}/photo.jpg`,
      `http://[::127.0.0.1]:${other.port}/photo.jpg`, // IPv4-compatible: URL writes it [::7f00:1]
      `http://[::10.0.0.1]/photo.jpg`,
      `http://2130706433:${other.port}/photo.jpg`, // 127.0.0.1 written as a number
      `http://0.0.0.0:${other.port}/photo.jpg`,
      'http://169.254.169.254/latest/meta-data/', // cloud metadata
      'http://[fe80::1]/photo.jpg',
      'http://10.0.0.1/photo.jpg',
      'http://192.168.1.1/photo.jpg',
    ];
    const schemes = ['file:///etc/passwd', 'ftp://example.com/photo.jpg', 'gopher://127.0.0.1:70/', 'data:image/png;base64,iVBORw0KGgo='];
    const results = await Promise.all([...blocked, ...schemes].map(async (u) => [u, await identifyUrl(u)] as const));
    for (const [u, r] of results) {
      assert.ok(r.ephemeral, u);
      if (schemes.includes(u)) {
        assert.match(r.text, /Only http:\/\/ and https:\/\/ links/, u);
        assert.equal(r.code, 'BAD_SCHEME', u);
      } else {
        assert.match(r.text, /private or local network/, u);
        assert.equal(r.code, 'BLOCKED_ADDRESS', u);
      }
      assert.ok(r.ms < 5000, `${u}: refused at once (${r.ms} ms)`);
    }
    assert.equal(other.connections, 0, 'the disallowed server never saw a connection');
  });

  test('a redirect from an allowed origin to a disallowed one is refused', async () => {
    const [toOther, toMeta, toFile] = await Promise.all([
      identifyUrl(`${good.origin}/to-other`),
      identifyUrl(`${good.origin}/to-metadata`),
      identifyUrl(`${good.origin}/to-file`),
    ]);
    assert.match(toOther.text, /private or local network/);
    assert.match(toMeta.text, /private or local network/);
    assert.match(toFile.text, /Only http:\/\/ and https:\/\//);
    assert.deepEqual([toOther.code, toMeta.code, toFile.code], ['BLOCKED_ADDRESS', 'BLOCKED_ADDRESS', 'BAD_SCHEME']);
    assert.equal(other.connections, 0, 'the redirect target was never contacted');
  });
});

describe('attachments', () => {
  const flowers = () => h.emu.channels.flowers.id;

  test('an attachment declared larger than the cap is refused without downloading it', async () => {
    const big = Buffer.concat([JPEG_HEAD, Buffer.alloc(1.5 * MiB)]);
    const msg = await postPhoto(h, { name: 'huge.jpg', bytes: big, contentType: 'image/jpeg' });
    const reply = await replyTo(h, flowers(), msg.id);
    assert.match(textOf(reply), /larger than 1 MB/);
    const att = msg.attachments[0]!;
    assert.ok(!h.emu.cdnRequests.some((r) => r.path.includes(att.id)), 'no CDN request');
  });

  test('an attachment that lies about its size is still capped', async () => {
    const big = Buffer.concat([JPEG_HEAD, Buffer.alloc(1.5 * MiB)]);
    const att = { ...h.emu.addAttachment('small.jpg', big, 'image/jpeg', { channelId: flowers() }), size: 2000 };
    const msg = await h.emu.postMessage({ channelId: flowers(), attachments: [att] });
    assert.match(textOf(await replyTo(h, flowers(), msg.id)), /larger than 1 MB/);
    assert.ok(
      h.emu.cdnRequests.some((r) => r.path.includes(att.id)),
      'it was fetched, and refused on the way',
    );
  });

  test('CDN errors (500, expired 404) get a clear reply', async () => {
    h.emu.failNext(/^GET \/cdn\/attachments\//, 500);
    const m500 = await postPhoto(h, { name: 'a.jpg', bytes: photoBytes, contentType: 'image/jpeg' });
    assert.match(textOf(await replyTo(h, flowers(), m500.id)), /had a problem \(HTTP 500\)/);
    const gone = { ...h.emu.addAttachment('b.jpg', photoBytes, 'image/jpeg', { channelId: flowers() }) };
    gone.url = gone.url.replace(/\/attachments\/(\d+)\/(\d+)\//, '/attachments/$1/1$2/');
    const m404 = await h.emu.postMessage({ channelId: flowers(), attachments: [gone] });
    assert.match(textOf(await replyTo(h, flowers(), m404.id)), /couldn't find that file \(HTTP 404\)/);
  });

  test('attachment URLs from a host that is not a configured CDN host are refused', async () => {
    // The same URL works through `url:` (its origin is allowed), but an attachment must come from the CDN.
    const url = `http://localhost:${good.port}/photo.jpg`;
    assert.ok((await identifyUrl(url)).ok, 'reachable as a link');
    const seen = good.requests.length;
    const forged = { ...h.emu.addAttachment('flower.jpg', photoBytes, 'image/jpeg', { channelId: flowers() }), url };
    const msg = await h.emu.postMessage({ channelId: flowers(), attachments: [forged] });
    assert.match(textOf(await replyTo(h, flowers(), msg.id)), /I can only fetch images from 127\.0\.0\.1/);
    const { id } = await h.emu.invokeCommand({ name: 'identify', options: { image: forged } });
    assert.match(bodyText(await finalResponse(h, id)), /I can only fetch images from 127\.0\.0\.1/);
    assert.equal(good.requests.length, seen, 'no request reached the server');
  });
});

test('BLOOM_DOWNLOAD_TIMEOUT_S is validated', () => {
  assert.equal(loadConfig({ BLOOM_DOWNLOAD_TIMEOUT_S: '2.5' }).downloadTimeoutS, 2.5);
  assert.equal(loadConfig({}).downloadTimeoutS, undefined);
  assert.throws(
    () => loadConfig({ BLOOM_DOWNLOAD_TIMEOUT_S: '0' }),
    (e: unknown) => e instanceof ConfigError && /BLOOM_DOWNLOAD_TIMEOUT_S must be a number of seconds/.test(e.message),
  );
});
