import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, beforeEach, describe, it } from 'node:test';
import { downloadFile } from '../src/net/index.ts';
import { rejectsWith } from './helpers/net.ts';

const payload = randomBytes(2 * 1024 * 1024 + 123);
const payloadSha = createHash('sha256').update(payload).digest('hex');

/** Behaviour switches for the file server, reset before each test. */
const server = {
  etag: '"v1"',
  rangeSupport: true,
  /** Cut the next full (non-range) response after this many bytes. */
  cutAfter: undefined as number | undefined,
  log: [] as { path: string; range?: string; ifRange?: string; status: number }[],
};

function handle(req: http.IncomingMessage, res: http.ServerResponse): void {
  const path = req.url ?? '/';
  const range = req.headers.range;
  const ifRange = req.headers['if-range'];
  const reply = (status: number, headers: http.OutgoingHttpHeaders, body?: Buffer): void => {
    server.log.push({ path, status, ...(range ? { range } : {}), ...(typeof ifRange === 'string' ? { ifRange } : {}) });
    res.writeHead(status, headers);
    res.end(body);
  };
  if (path === '/redirect') return reply(302, { location: '/file.bin' });
  if (path === '/loop') return reply(302, { location: '/loop' });
  if (path !== '/file.bin') return reply(404, {});

  const m = /^bytes=(\d+)-$/.exec(range ?? '');
  if (m && server.rangeSupport && (ifRange === undefined || ifRange === server.etag)) {
    const start = Number(m[1]);
    if (start >= payload.length) return reply(416, { 'content-range': `bytes */${payload.length}` });
    const headers = {
      etag: server.etag,
      'content-length': payload.length - start,
      'content-range': `bytes ${start}-${payload.length - 1}/${payload.length}`,
    };
    return reply(206, headers, payload.subarray(start));
  }
  if (server.cutAfter !== undefined) {
    const cut = server.cutAfter;
    server.cutAfter = undefined;
    server.log.push({ path, status: 200 });
    res.writeHead(200, { etag: server.etag, 'content-length': payload.length });
    res.write(payload.subarray(0, cut), () => res.destroy()); // drop the connection midway
    return;
  }
  reply(200, { etag: server.etag, 'content-length': payload.length }, payload);
}

describe('downloadFile', () => {
  let httpServer: http.Server;
  let origin: string;
  let dir: string;
  const timeouts = { connectMs: 1000, headersMs: 2000, bodyIdleMs: 2000 };

  before(async () => {
    httpServer = http.createServer(handle);
    await new Promise<void>((resolve) => httpServer.listen(0, '127.0.0.1', resolve));
    origin = `http://127.0.0.1:${(httpServer.address() as AddressInfo).port}`;
    dir = await mkdtemp(join(tmpdir(), 'bloom-dlfile-'));
  });
  after(async () => {
    httpServer.closeAllConnections();
    await new Promise((resolve) => httpServer.close(resolve));
    await rm(dir, { recursive: true, force: true });
  });
  beforeEach(() => {
    Object.assign(server, { etag: '"v1"', rangeSupport: true, cutAfter: undefined, log: [] });
  });

  let n = 0;
  const freshDest = () => join(dir, `sub${++n}`, 'file.bin');

  it('streams to disk with progress, then renames into place', async () => {
    const dest = freshDest();
    const seen: [number, number | undefined][] = [];
    const got = await downloadFile(`${origin}/file.bin`, dest, {
      timeouts,
      expectedSha256: payloadSha,
      expectedSize: payload.length,
      onProgress: (received, total) => seen.push([received, total]),
    });
    assert.deepEqual(await readFile(dest), payload);
    assert.deepEqual(got, { path: dest, size: payload.length, sha256: payloadSha, resumedFrom: 0, reused: false });
    assert.ok(seen.length > 1);
    assert.deepEqual(seen.at(-1), [payload.length, payload.length]);
    assert.ok(
      seen.every(([r], i) => i === 0 || r >= seen[i - 1]![0]),
      'monotonic',
    );
    assert.equal(existsSync(`${dest}.part`), false);
    assert.equal(existsSync(`${dest}.part.json`), false);
  });

  it('resumes an interrupted download with a Range request', async () => {
    const dest = freshDest();
    server.cutAfter = 1024 * 1024;
    await rejectsWith(downloadFile(`${origin}/file.bin`, dest, { timeouts, expectedSha256: payloadSha }), 'NETWORK');
    const partial = (await stat(`${dest}.part`)).size;
    assert.ok(partial > 0 && partial < payload.length, `partial file of ${partial} bytes`);
    assert.equal(existsSync(dest), false, 'nothing at dest until complete');

    const got = await downloadFile(`${origin}/file.bin`, dest, { timeouts, expectedSha256: payloadSha });
    assert.equal(got.resumedFrom, partial);
    assert.equal(got.sha256, payloadSha);
    assert.deepEqual(await readFile(dest), payload);
    assert.deepEqual(server.log.at(-1), { path: '/file.bin', status: 206, range: `bytes=${partial}-`, ifRange: '"v1"' });
  });

  it('starts over when the server ignores Range or the file changed', async () => {
    for (const change of [() => (server.rangeSupport = false), () => (server.etag = '"v2"')]) {
      const dest = freshDest();
      server.cutAfter = 512 * 1024;
      await rejectsWith(downloadFile(`${origin}/file.bin`, dest, { timeouts }), 'NETWORK');
      change();
      const got = await downloadFile(`${origin}/file.bin`, dest, { timeouts, expectedSha256: payloadSha });
      assert.equal(got.resumedFrom, 0);
      assert.deepEqual(await readFile(dest), payload);
      assert.equal(server.log.at(-1)?.status, 200);
      Object.assign(server, { etag: '"v1"', rangeSupport: true });
    }
  });

  it('finishes a part file that is already complete (416)', async () => {
    const dest = freshDest();
    server.cutAfter = 1024;
    await rejectsWith(downloadFile(`${origin}/file.bin`, dest, { timeouts }), 'NETWORK');
    await writeFile(`${dest}.part`, payload); // as if the last bytes landed but the rename didn't
    const got = await downloadFile(`${origin}/file.bin`, dest, { timeouts, expectedSha256: payloadSha });
    assert.equal(got.size, payload.length);
    assert.equal(server.log.at(-1)?.status, 416);
  });

  it('rejects a checksum mismatch and discards the bad data', async () => {
    const dest = freshDest();
    const err = await rejectsWith(downloadFile(`${origin}/file.bin`, dest, { timeouts, expectedSha256: '0'.repeat(64) }), 'BAD_CHECKSUM');
    assert.match(err.message, /checksum/);
    assert.equal(existsSync(dest), false);
    assert.equal(existsSync(`${dest}.part`), false);
    await rejectsWith(downloadFile(`${origin}/file.bin`, dest, { timeouts, expectedSize: 10 }), 'BAD_CHECKSUM');
  });

  it('reuses an existing file whose checksum matches, without a request', async () => {
    const dest = freshDest();
    await downloadFile(`${origin}/file.bin`, dest, { timeouts });
    server.log = [];
    const got = await downloadFile(`${origin}/file.bin`, dest, { timeouts, expectedSha256: payloadSha.toUpperCase() });
    assert.equal(got.reused, true);
    assert.equal(server.log.length, 0);
  });

  it('follows redirects, with a limit, and reports HTTP errors', async () => {
    const dest = freshDest();
    const got = await downloadFile(`${origin}/redirect`, dest, { timeouts });
    assert.equal(got.sha256, payloadSha);
    await rejectsWith(downloadFile(`${origin}/loop`, freshDest(), { timeouts }), 'TOO_MANY_REDIRECTS');
    const err = await rejectsWith(downloadFile(`${origin}/nope`, freshDest(), { timeouts }), 'HTTP_STATUS');
    assert.equal(err.status, 404);
  });
});
