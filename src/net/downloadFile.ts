/**
 * downloadFile: stream a large file from a trusted, pinned URL (model
 * weights, datasets) to disk. Resumable via HTTP Range, verified by size and
 * sha256 when known, and only renamed into place once complete, so `dest`
 * either doesn't exist or is whole.
 *
 * No SSRF guard here: callers pass URLs from our own config, not from users.
 */
import { createHash, type Hash } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { once } from 'node:events';
import { Agent, type Dispatcher } from 'undici';
import { DownloadError } from './errors.ts';
import {
  Deadline,
  discardBody,
  expectStatus,
  getFollowingRedirects,
  parseHttpUrl,
  resolveTimeouts,
  type FollowResult,
  type ResolvedTimeouts,
  type Timeouts,
} from './http.ts';

export type ProgressCallback = (received: number, total: number | undefined) => void;

export interface DownloadFileOptions {
  onProgress?: ProgressCallback;
  /** Hex sha256 of the complete file; mismatch → BAD_CHECKSUM and the partial file is discarded. */
  expectedSha256?: string;
  expectedSize?: number;
  /** Continue from `dest.part` with a Range request when possible. Default true. */
  resume?: boolean;
  timeouts?: Timeouts;
  /** Default 5. */
  maxRedirects?: number;
  headers?: Record<string, string>;
  signal?: AbortSignal;
}

export interface DownloadedFile {
  path: string;
  size: number;
  sha256: string;
  /** Bytes already on disk that the server let us skip (0 for a fresh download). */
  resumedFrom: number;
  /** True when `dest` already existed with the expected sha256 and nothing was fetched. */
  reused: boolean;
}

/** Sidecar remembering what `dest.part` belongs to, so a resume never splices two different files. */
interface PartMeta {
  url: string;
  etag?: string;
  lastModified?: string;
}

const FILE_TIMEOUTS: ResolvedTimeouts = { connectMs: 15_000, headersMs: 30_000, bodyIdleMs: 60_000, totalMs: undefined };

export async function downloadFile(url: string | URL, dest: string, opts: DownloadFileOptions = {}): Promise<DownloadedFile> {
  const source = parseHttpUrl(url);
  const expectedSha = opts.expectedSha256?.toLowerCase();
  if (expectedSha !== undefined && (await sha256OfFile(dest).catch(() => null)) === expectedSha) {
    const { size } = await stat(dest);
    return { path: dest, size, sha256: expectedSha, resumedFrom: 0, reused: true };
  }

  await mkdir(dirname(dest), { recursive: true });
  const part = `${dest}.part`;
  const metaPath = `${dest}.part.json`;
  const timeouts = resolveTimeouts(opts.timeouts, FILE_TIMEOUTS);
  const agent = new Agent({
    connect: { timeout: timeouts.connectMs },
    headersTimeout: timeouts.headersMs,
    bodyTimeout: timeouts.bodyIdleMs,
  });
  const deadline = new Deadline(timeouts.totalMs, opts.signal);
  const fetchFrom = (offset: number, meta: PartMeta | null): Promise<FollowResult> =>
    getFollowingRedirects(source, {
      dispatcher: agent,
      signal: deadline.signal,
      maxRedirects: opts.maxRedirects ?? 5,
      headers: { ...opts.headers, ...rangeHeaders(offset, meta) },
    });

  try {
    let offset = opts.resume === false ? 0 : await resumableOffset(part, metaPath, source, opts.expectedSize);
    // Hash what we already have before asking for more, so the response never waits on the disk.
    let hash = createHash('sha256');
    if (offset > 0) await hashFileInto(part, hash);
    let result = await fetchFrom(offset, offset > 0 ? await readMeta(metaPath) : null);
    let status = result.response.statusCode;

    if (offset > 0) {
      const continues = (status === 206 && contentRangeStart(result) === offset) || (status === 416 && rangeTotal(result) === offset);
      if (status === 200) {
        offset = 0; // no range support, or If-Range saw a changed file: this is the whole file
      } else if (!continues && (status === 206 || status === 416)) {
        // The server can't continue exactly where we stopped: start over.
        discardBody(result.response.body);
        result = await fetchFrom(0, null);
        status = result.response.statusCode;
        offset = 0;
      }
    }
    expectStatus(result, offset > 0 ? [206, 416] : [200]);
    if (offset === 0) hash = createHash('sha256');

    let size = offset;
    if (status === 416) {
      discardBody(result.response.body); // part already holds the whole file
    } else {
      const declared = status === 206 ? rangeTotal(result) : contentLength(result);
      const total = declared ?? opts.expectedSize; // for progress only
      if (offset === 0) await writeFile(metaPath, JSON.stringify(partMetaFrom(source, result)));
      opts.onProgress?.(size, total);
      const out = createWriteStream(part, { flags: offset > 0 ? 'a' : 'w' });
      try {
        await pipeline(
          result.response.body,
          async function* (chunks: AsyncIterable<Buffer>) {
            for await (const chunk of chunks) {
              hash.update(chunk);
              size += chunk.length;
              opts.onProgress?.(size, total);
              yield chunk;
            }
          },
          out,
        );
      } catch (err) {
        // A write already under way can land after pipeline rejects: wait for the file to be
        // closed, so the .part holds its final size before anyone (a resume) reads it.
        if (!out.closed) await once(out, 'close').catch(() => undefined);
        throw err;
      }
      if (declared !== undefined && size !== declared) {
        throw new DownloadError('NETWORK', { detail: `connection ended after ${size} of ${declared} bytes` });
      }
    }

    const sha256 = hash.digest('hex');
    if (opts.expectedSize !== undefined && size !== opts.expectedSize) {
      await discard(part, metaPath);
      throw new DownloadError('BAD_CHECKSUM', { detail: `size ${size}, expected ${opts.expectedSize}` });
    }
    if (expectedSha !== undefined && sha256 !== expectedSha) {
      await discard(part, metaPath);
      throw new DownloadError('BAD_CHECKSUM', { detail: `sha256 ${sha256}, expected ${expectedSha}` });
    }
    await rename(part, dest); // same directory → atomic
    await rm(metaPath, { force: true });
    return { path: dest, size, sha256, resumedFrom: offset, reused: false };
  } catch (err) {
    throw deadline.toDownloadError(err);
  } finally {
    deadline.dispose();
    await agent.destroy().catch(() => undefined);
  }
}

export async function sha256OfFile(path: string): Promise<string> {
  const hash = createHash('sha256');
  await hashFileInto(path, hash);
  return hash.digest('hex');
}

async function hashFileInto(path: string, hash: Hash): Promise<void> {
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
}

/** Size of a usable `.part` for this URL, or 0 (after clearing a stale one). */
async function resumableOffset(part: string, metaPath: string, source: URL, expectedSize?: number): Promise<number> {
  const size = await stat(part).then(
    (s) => s.size,
    () => 0,
  );
  const meta = await readMeta(metaPath);
  if (size > 0 && meta?.url === source.href && (expectedSize === undefined || size <= expectedSize)) return size;
  if (size > 0 || meta) await discard(part, metaPath);
  return 0;
}

async function readMeta(metaPath: string): Promise<PartMeta | null> {
  try {
    const parsed: unknown = JSON.parse(await readFile(metaPath, 'utf8'));
    return parsed && typeof parsed === 'object' && typeof (parsed as PartMeta).url === 'string' ? (parsed as PartMeta) : null;
  } catch {
    return null;
  }
}

function partMetaFrom(source: URL, result: FollowResult): PartMeta {
  const meta: PartMeta = { url: source.href };
  const etag = header(result.response, 'etag');
  const lastModified = header(result.response, 'last-modified');
  if (etag) meta.etag = etag;
  if (lastModified) meta.lastModified = lastModified;
  return meta;
}

/** Range + If-Range: if the file changed since the part was written, the server sends a fresh 200. */
function rangeHeaders(offset: number, meta: PartMeta | null): Record<string, string> {
  if (offset === 0) return {};
  const headers: Record<string, string> = { range: `bytes=${offset}-` };
  const validator = meta?.etag && !meta.etag.startsWith('W/') ? meta.etag : meta?.lastModified;
  if (validator) headers['if-range'] = validator;
  return headers;
}

function header(res: Dispatcher.ResponseData, name: string): string | undefined {
  const v = res.headers[name];
  return Array.isArray(v) ? v[0] : v;
}

function contentLength(result: FollowResult): number | undefined {
  const n = Number(header(result.response, 'content-length'));
  return Number.isSafeInteger(n) && n >= 0 ? n : undefined;
}

/** "bytes 100-199/1000" → 100; undefined when absent or malformed. */
function contentRangeStart(result: FollowResult): number | undefined {
  const m = /^bytes (\d+)-\d+\/(?:\d+|\*)$/.exec(header(result.response, 'content-range') ?? '');
  return m ? Number(m[1]) : undefined;
}

/** Total size from "bytes a-b/N" or "bytes * /N" (416). */
function rangeTotal(result: FollowResult): number | undefined {
  const m = /\/(\d+)$/.exec(header(result.response, 'content-range') ?? '');
  return m ? Number(m[1]) : undefined;
}

async function discard(part: string, metaPath: string): Promise<void> {
  await rm(part, { force: true });
  await rm(metaPath, { force: true });
}
