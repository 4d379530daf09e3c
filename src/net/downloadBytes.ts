/**
 * downloadBytes: fetch a user-supplied image URL into memory, defensively.
 *  - only http(s); optional host allow-list, checked on every hop
 *  - SSRF guard: every hop's host is resolved and vetted, and the socket is
 *    pinned to the vetted address (DNS rebinding can't swap it afterwards)
 *  - manual redirects with a small limit and loop detection
 *  - connect / headers / idle-body timeouts plus an overall deadline, and a
 *    minimum average transfer rate after a grace period (a trickle is cut off)
 *  - byte cap enforced on Content-Length and again while streaming
 *  - content type sniffed from the bytes; non-images are refused
 */
import { createHash } from 'node:crypto';
import type { LookupFunction } from 'node:net';
import { Agent } from 'undici';
import { bareHostname, resolveVetted, systemResolver, type AddressPolicy, type ResolvedAddress, type Resolver } from './addressPolicy.ts';
import { DownloadError } from './errors.ts';
import {
  Deadline,
  discardBody,
  expectStatus,
  getFollowingRedirects,
  parseHttpUrl,
  resolveTimeouts,
  type ResolvedTimeouts,
  type Timeouts,
} from './http.ts';
import { IMAGE_MIME, SNIFF_BYTES, describeNonImage, sniffImageType, sniffNonImageType, type ImageKind } from './sniff.ts';

export interface DownloadOptions extends AddressPolicy {
  /** Byte cap; default 10 MiB. */
  maxBytes?: number;
  /** If given, every hop's hostname must be one of these (exact, case-insensitive). */
  allowHosts?: readonly string[];
  /** Default 3. */
  maxRedirects?: number;
  timeouts?: Timeouts;
  headers?: Record<string, string>;
  signal?: AbortSignal;
  /** DNS resolver (all addresses); injectable for tests. */
  resolver?: Resolver;
}

export interface Downloaded {
  bytes: Buffer;
  kind: ImageKind;
  /** MIME type derived from the sniffed bytes, not from the server's header. */
  contentType: string;
  finalUrl: string;
  sha256: string;
}

export const DEFAULT_MAX_IMAGE_BYTES = 10 * 1024 * 1024;

/** The rate floor: 8 KB/s on average once the body has had 5 s (a 10 MB photo then still has its 30 s). */
export const DEFAULT_MIN_BYTES_PER_SEC = 8_000;
export const DEFAULT_MIN_RATE_GRACE_MS = 5_000;

const IMAGE_TIMEOUTS: ResolvedTimeouts = {
  connectMs: 5_000,
  headersMs: 10_000,
  bodyIdleMs: 10_000,
  totalMs: 30_000,
  minBytesPerSec: DEFAULT_MIN_BYTES_PER_SEC,
  minRateGraceMs: DEFAULT_MIN_RATE_GRACE_MS,
};

export async function downloadBytes(url: string | URL, opts: DownloadOptions = {}): Promise<Downloaded> {
  const maxBytes = opts.maxBytes ?? DEFAULT_MAX_IMAGE_BYTES;
  const timeouts = resolveTimeouts(opts.timeouts, IMAGE_TIMEOUTS);
  const allowHosts = opts.allowHosts?.map((h) => h.toLowerCase());
  const resolver = opts.resolver ?? systemResolver;
  const start = parseHttpUrl(url);

  const pins = new Map<string, ResolvedAddress[]>();
  const agent = pinnedAgent(pins, timeouts);
  const deadline = new Deadline(timeouts.totalMs, opts.signal);
  let stopRateWatch = () => {};
  try {
    const result = await getFollowingRedirects(start, {
      dispatcher: agent,
      signal: deadline.signal,
      maxRedirects: opts.maxRedirects ?? 3,
      ...(opts.headers ? { headers: opts.headers } : {}),
      beforeHop: async (hop) => {
        const host = bareHostname(hop);
        if (allowHosts && !allowHosts.includes(host)) {
          throw new DownloadError('HOST_NOT_ALLOWED', { allowedHosts: allowHosts, detail: `host ${host} not allowed` });
        }
        pins.set(host, await resolveVetted(hop, opts, resolver));
      },
    });
    expectStatus(result, [200]);

    const { body, headers } = result.response;
    const chunks: Buffer[] = [];
    let received = 0;
    stopRateWatch = watchRate(timeouts, () => received, deadline);
    const declared = Number(headers['content-length']);
    if (Number.isFinite(declared) && declared > maxBytes) {
      discardBody(body);
      throw new DownloadError('TOO_LARGE', { limitBytes: maxBytes, detail: `Content-Length ${declared}` });
    }

    let checkedHead = false;
    for await (const chunk of body as AsyncIterable<Buffer>) {
      received += chunk.length;
      if (received > maxBytes) {
        // Leaving the loop destroys the body; the agent is destroyed below too.
        throw new DownloadError('TOO_LARGE', { limitBytes: maxBytes, detail: `body exceeded ${maxBytes} bytes` });
      }
      chunks.push(chunk);
      if (!checkedHead && received >= SNIFF_BYTES) {
        checkedHead = true;
        assertImage(Buffer.concat(chunks)); // refuse an HTML page early instead of reading 10 MB of it
      }
    }

    const bytes = Buffer.concat(chunks);
    const kind = assertImage(bytes);
    return {
      bytes,
      kind,
      contentType: IMAGE_MIME[kind],
      finalUrl: result.url.href,
      sha256: createHash('sha256').update(bytes).digest('hex'),
    };
  } catch (err) {
    throw deadline.toDownloadError(err);
  } finally {
    stopRateWatch();
    deadline.dispose();
    // Per-call agent: tearing it down guarantees no socket outlives the download.
    await agent.destroy().catch(() => undefined);
  }
}

/**
 * Fails the download through `deadline` once, after the grace period, the body's
 * average rate since the headers is below the floor. Returns a stop function.
 */
function watchRate(t: ResolvedTimeouts, received: () => number, deadline: Deadline): () => void {
  const floor = t.minBytesPerSec ?? 0;
  if (!(floor > 0)) return () => {};
  const grace = t.minRateGraceMs ?? DEFAULT_MIN_RATE_GRACE_MS;
  const start = performance.now();
  const timer = setInterval(
    () => {
      const elapsed = performance.now() - start;
      if (elapsed < grace) return;
      const rate = received() / (elapsed / 1000);
      if (rate >= floor) return;
      clearInterval(timer);
      deadline.fail(
        new DownloadError('TOO_SLOW', {
          minBytesPerSec: floor,
          detail: `${Math.round(rate)} bytes/s after ${Math.round(elapsed)} ms, floor ${floor}`,
        }),
      );
    },
    Math.max(50, Math.min(250, grace / 4)),
  );
  timer.unref();
  return () => clearInterval(timer);
}

function assertImage(head: Buffer): ImageKind {
  const kind = sniffImageType(head);
  if (kind) return kind;
  const other = sniffNonImageType(head);
  const looksLike = describeNonImage(other);
  throw new DownloadError('NOT_AN_IMAGE', {
    ...(looksLike ? { looksLike } : {}),
    detail: `sniffed ${other ?? 'unknown binary'}`,
  });
}

/**
 * An Agent whose sockets connect only to addresses vetted by resolveVetted:
 * its DNS lookup answers from `pins` instead of asking DNS again. The URL host
 * stays untouched, so Host header, SNI and certificate checks still use the
 * real hostname, and Node's happy-eyeballs can still pick among the vetted
 * addresses. (IP-literal hosts skip lookup and were vetted as such.)
 */
function pinnedAgent(pins: ReadonlyMap<string, readonly ResolvedAddress[]>, t: ResolvedTimeouts): Agent {
  const lookup: LookupFunction = (hostname, options, callback) => {
    const vetted = pins.get(hostname.toLowerCase());
    if (!vetted || vetted.length === 0) {
      callback(new DownloadError('BLOCKED_ADDRESS', { detail: `no vetted address for ${hostname}` }), '');
      return;
    }
    const usable = options.family === 4 || options.family === 6 ? vetted.filter((a) => a.family === options.family) : vetted;
    if (options.all)
      callback(
        null,
        usable.map((a) => ({ address: a.address, family: a.family })),
      );
    else if (usable[0]) callback(null, usable[0].address, usable[0].family);
    else callback(new DownloadError('BLOCKED_ADDRESS', { detail: `no vetted IPv${options.family} address for ${hostname}` }), '');
  };
  return new Agent({
    connect: { timeout: t.connectMs, lookup },
    headersTimeout: t.headersMs,
    bodyTimeout: t.bodyIdleMs,
  });
}
