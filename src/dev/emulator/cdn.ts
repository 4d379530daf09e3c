/**
 * Attachment CDN: `/cdn/attachments/:channel/:id/:filename` (the `url`) and the
 * same under `/media/` (the `proxy_url`). Serves stored bytes with the
 * headers a downloader checks (type, length); honours failNext() faults so
 * download error paths can be tested too.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Fault, RecordedRequest } from './rest.ts';
import type { World } from './world.ts';

export function handleCdn(
  world: World,
  req: IncomingMessage,
  res: ServerResponse,
  url: URL,
  takeFault: (method: string, path: string) => Fault | undefined,
  record: (r: RecordedRequest) => void,
): void {
  const method = (req.method ?? 'GET').toUpperCase();
  const m = /^\/(?:cdn|media)\/attachments\/(\d+)\/(\d+)\/([^/]+)$/.exec(url.pathname);
  const file = m && (method === 'GET' || method === 'HEAD') ? world.cdnFile(m[2]!, decodeURIComponent(m[3]!)) : undefined;
  const fault = takeFault(method, url.pathname);
  let status: number;
  if (fault) {
    status = fault.status;
    res.writeHead(status, {
      'content-type': 'text/plain',
      ...(status === 429 ? { 'retry-after': String(fault.retryAfterSec) } : {}),
    });
    res.end(`${status}`);
  } else if (!file) {
    status = 404;
    res.writeHead(404, { 'content-type': 'text/plain' });
    res.end('This content is no longer available.');
  } else {
    status = 200;
    res.writeHead(200, {
      'content-type': file.contentType,
      'content-length': String(file.bytes.length),
      'cache-control': 'public, max-age=31536000',
      'accept-ranges': 'bytes',
    });
    res.end(method === 'HEAD' ? undefined : file.bytes);
  }
  const headers: Record<string, string> = {};
  for (const [k, v] of Object.entries(req.headers)) if (k !== 'authorization' && v !== undefined) headers[k] = String(v);
  record({
    method,
    path: url.pathname,
    route: m ? '/attachments/:channelId/:attachmentId/:filename' : null,
    query: Object.fromEntries(url.searchParams),
    headers,
    hasAuth: req.headers.authorization !== undefined,
    authorized: false,
    body: null,
    files: [],
    status,
    response: null,
    unknownRoute: !m,
    ...(fault ? { injected: fault.status } : {}),
    at: Date.now(),
  });
  req.resume();
}
