/**
 * Shared plumbing for downloadBytes/downloadFile: URL checks, timeouts,
 * manual redirect following and mapping undici failures to DownloadError.
 */
import { request, type Dispatcher } from 'undici';
import { DownloadError } from './errors.ts';

/** Note: undici checks headersMs/bodyIdleMs on a coarse clock (~1 s resolution). */
export interface Timeouts {
  /** TCP/TLS connect. */
  connectMs?: number;
  /** From request sent to response headers received. */
  headersMs?: number;
  /** Longest gap between two body chunks (idle read). */
  bodyIdleMs?: number;
  /** Overall deadline for the whole download, redirects included. */
  totalMs?: number;
  /**
   * Slowest average body rate accepted (bytes per second), judged from the
   * response headers on once minRateGraceMs have passed; 0 or absent = no floor.
   * A trickling link otherwise holds its slot until the overall deadline.
   */
  minBytesPerSec?: number;
  /** Time the body has before the rate floor applies. */
  minRateGraceMs?: number;
}

export type ResolvedTimeouts = Required<Pick<Timeouts, 'connectMs' | 'headersMs' | 'bodyIdleMs'>> &
  Pick<Timeouts, 'minBytesPerSec' | 'minRateGraceMs'> & { totalMs: number | undefined };

export function resolveTimeouts(given: Timeouts | undefined, defaults: ResolvedTimeouts): ResolvedTimeouts {
  return {
    connectMs: given?.connectMs ?? defaults.connectMs,
    headersMs: given?.headersMs ?? defaults.headersMs,
    bodyIdleMs: given?.bodyIdleMs ?? defaults.bodyIdleMs,
    totalMs: given?.totalMs ?? defaults.totalMs,
    ...((given?.minBytesPerSec ?? defaults.minBytesPerSec) !== undefined && {
      minBytesPerSec: given?.minBytesPerSec ?? defaults.minBytesPerSec,
    }),
    ...((given?.minRateGraceMs ?? defaults.minRateGraceMs) !== undefined && {
      minRateGraceMs: given?.minRateGraceMs ?? defaults.minRateGraceMs,
    }),
  };
}

/** Parse and accept only http(s) URLs. */
export function parseHttpUrl(input: string | URL): URL {
  let url: URL;
  try {
    url = new URL(String(input));
  } catch (cause) {
    throw new DownloadError('BAD_URL', { detail: 'unparseable URL', cause });
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new DownloadError('BAD_SCHEME', { detail: `scheme ${url.protocol} refused` });
  }
  return url;
}

/** Origin + path only: query strings (signed CDN links) and credentials stay out of logs. */
export function redactUrl(url: URL): string {
  return `${url.origin}${url.pathname}`;
}

/**
 * One abort signal for "caller cancelled" or "deadline passed", remembering
 * which fired so the error can say TIMEOUT vs ABORTED.
 */
export class Deadline {
  readonly signal: AbortSignal;
  private readonly controller = new AbortController();
  private timer: NodeJS.Timeout | undefined;
  private expired = false;
  private failure: DownloadError | undefined;
  private readonly onCallerAbort = () => this.controller.abort(this.callerSignal?.reason);

  constructor(
    totalMs: number | undefined,
    private readonly callerSignal?: AbortSignal,
  ) {
    this.signal = this.controller.signal;
    if (totalMs !== undefined) {
      this.timer = setTimeout(() => {
        this.expired = true;
        this.controller.abort(new DownloadError('TIMEOUT', { detail: `deadline of ${totalMs} ms passed` }));
      }, totalMs);
    }
    if (callerSignal?.aborted) this.onCallerAbort();
    else callerSignal?.addEventListener('abort', this.onCallerAbort, { once: true });
  }

  /** Abort the download with this verdict (e.g. a transfer below the rate floor). */
  fail(err: DownloadError): void {
    this.failure ??= err;
    this.controller.abort(err);
  }

  /** Translate any failure seen while this deadline was active. */
  toDownloadError(err: unknown): DownloadError {
    if (this.failure) return this.failure;
    if (err instanceof DownloadError) return err; // our own verdict (the deadline's reason is one too)
    if (this.expired) return new DownloadError('TIMEOUT', { detail: 'overall deadline passed', cause: err });
    if (this.callerSignal?.aborted) return new DownloadError('ABORTED', { cause: err });
    return toDownloadError(err);
  }

  dispose(): void {
    clearTimeout(this.timer);
    this.callerSignal?.removeEventListener('abort', this.onCallerAbort);
  }
}

const TIMEOUT_CODES = new Set(['UND_ERR_CONNECT_TIMEOUT', 'UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT', 'ETIMEDOUT']);

export function toDownloadError(err: unknown): DownloadError {
  if (err instanceof DownloadError) return err;
  const code = (err as { code?: unknown } | null)?.code;
  if (typeof code === 'string' && TIMEOUT_CODES.has(code)) {
    return new DownloadError('TIMEOUT', { detail: code, cause: err });
  }
  const detail = typeof code === 'string' ? code : err instanceof Error ? err.message : String(err);
  return new DownloadError('NETWORK', { detail, cause: err });
}

const REDIRECT_STATUSES = new Set([301, 302, 303, 307, 308]);
/** Headers that must not leak to a different origin on redirect. */
const CREDENTIAL_HEADERS = ['authorization', 'cookie', 'proxy-authorization'];

export interface FollowOptions {
  dispatcher: Dispatcher;
  signal: AbortSignal;
  maxRedirects: number;
  headers?: Record<string, string>;
  /** Called before each request (first hop and every redirect target); throw to refuse the hop. */
  beforeHop?: (url: URL) => Promise<void> | void;
}

export interface FollowResult {
  response: Dispatcher.ResponseData;
  url: URL;
}

/** GET `start`, following up to `maxRedirects` redirects; returns the first non-redirect response. */
export async function getFollowingRedirects(start: URL, opts: FollowOptions): Promise<FollowResult> {
  const seen = new Set<string>();
  let headers: Record<string, string> = { ...opts.headers };
  let url = start;
  for (let hop = 0; ; hop++) {
    await opts.beforeHop?.(url);
    seen.add(url.href);
    const response = await request(url, {
      method: 'GET',
      dispatcher: opts.dispatcher,
      signal: opts.signal,
      headers,
    });
    // The body may break before its reader attaches (we await other work first); readers still see
    // the error, but without a listener undici would also raise it as an uncaught exception.
    response.body.on('error', () => {});
    const location = response.headers['location'];
    if (!REDIRECT_STATUSES.has(response.statusCode) || typeof location !== 'string') {
      return { response, url };
    }
    // Redirect bodies are irrelevant; drain a little so the socket can be reused, else drop it.
    await response.body.dump({ limit: 64 * 1024 }).catch(() => undefined);

    let next: URL;
    try {
      next = parseHttpUrl(new URL(location, url));
    } catch (err) {
      if (err instanceof DownloadError && err.code === 'BAD_SCHEME') throw err;
      throw new DownloadError('HTTP_STATUS', { status: response.statusCode, detail: 'bad Location header', cause: err });
    }
    if (seen.has(next.href)) {
      throw new DownloadError('TOO_MANY_REDIRECTS', { detail: `redirect loop at ${redactUrl(next)}` });
    }
    if (hop + 1 > opts.maxRedirects) {
      throw new DownloadError('TOO_MANY_REDIRECTS', { detail: `more than ${opts.maxRedirects} redirects` });
    }
    if (next.origin !== url.origin) {
      headers = Object.fromEntries(Object.entries(headers).filter(([k]) => !CREDENTIAL_HEADERS.includes(k.toLowerCase())));
    }
    url = next;
  }
}

/**
 * Abandon a response body we won't read, closing its connection. (A bare
 * destroy() makes undici emit an 'error' that would go unhandled.)
 */
export function discardBody(body: Dispatcher.ResponseData['body']): void {
  body.on('error', () => {});
  // dump() reads a small rest and frees the socket; a large rest is cut off by undici itself.
  void body.dump({ limit: 64 * 1024 }).catch(() => undefined);
}

/** Throw HTTP_STATUS for anything but the accepted statuses, releasing the body first. */
export function expectStatus(result: FollowResult, accepted: readonly number[]): void {
  const { statusCode, body } = result.response;
  if (accepted.includes(statusCode)) return;
  discardBody(body);
  throw new DownloadError('HTTP_STATUS', { status: statusCode, detail: `HTTP ${statusCode} from ${redactUrl(result.url)}` });
}
