/**
 * Typed download errors. `message` is written for end users (it may be shown
 * verbatim in Discord), so it never contains URLs, headers or tokens; the
 * technical reason lives in `detail`/`cause` for logs.
 */
import { UserFacingError } from '../errors.ts';

export type DownloadErrorCode =
  | 'BAD_URL'
  | 'BAD_SCHEME'
  | 'HOST_NOT_ALLOWED'
  | 'BLOCKED_ADDRESS'
  | 'TOO_MANY_REDIRECTS'
  | 'HTTP_STATUS'
  | 'TOO_LARGE'
  | 'TIMEOUT'
  | 'TOO_SLOW'
  | 'NOT_AN_IMAGE'
  | 'BAD_CHECKSUM'
  | 'ABORTED'
  | 'NETWORK';

export interface DownloadErrorInit {
  status?: number;
  /** Byte limit that was exceeded (TOO_LARGE). */
  limitBytes?: number;
  /** The rate floor that was not reached (TOO_SLOW), bytes per second. */
  minBytesPerSec?: number;
  /** What the content looked like instead of a photo (NOT_AN_IMAGE), e.g. "an SVG drawing". */
  looksLike?: string;
  /** Hosts the caller accepts (HOST_NOT_ALLOWED). */
  allowedHosts?: readonly string[];
  /** Technical explanation for logs; must not contain secrets. */
  detail?: string;
  cause?: unknown;
}

export class DownloadError extends UserFacingError<DownloadErrorCode> {
  override readonly name = 'DownloadError';
  readonly status?: number;

  constructor(code: DownloadErrorCode, init: DownloadErrorInit = {}) {
    super(code, friendlyMessage(code, init), { detail: init.detail, cause: init.cause });
    if (init.status !== undefined) this.status = init.status;
  }
}

export function isDownloadError(err: unknown, code?: DownloadErrorCode): err is DownloadError {
  return err instanceof DownloadError && (code === undefined || err.code === code);
}

/** "10 MB", "512 KB", "1.5 GB" — decimal units, as users read them. */
export function formatBytes(n: number): string {
  if (n < 1000) return `${n} bytes`;
  const units = ['KB', 'MB', 'GB', 'TB'];
  let v = n;
  let i = -1;
  do {
    v /= 1000;
    i++;
  } while (v >= 1000 && i < units.length - 1);
  const text = v >= 10 ? v.toFixed(0) : v.toFixed(1).replace(/\.0$/, '');
  return `${text} ${units[i]}`;
}

function friendlyMessage(code: DownloadErrorCode, init: DownloadErrorInit): string {
  switch (code) {
    case 'BAD_URL':
      return "That doesn't look like a valid link — please check it and try again.";
    case 'BAD_SCHEME':
      return 'Only http:// and https:// links are supported.';
    case 'HOST_NOT_ALLOWED':
      return init.allowedHosts && init.allowedHosts.length > 0
        ? `I can only fetch images from ${init.allowedHosts.join(', ')} — please attach the photo directly.`
        : 'I can only fetch images from approved hosts — please attach the photo directly.';
    case 'BLOCKED_ADDRESS':
      return "I can't fetch files from private or local network addresses.";
    case 'TOO_MANY_REDIRECTS':
      return 'That link redirects too many times — please send a direct link to the image.';
    case 'HTTP_STATUS':
      return httpStatusMessage(init.status);
    case 'TOO_LARGE':
      return init.limitBytes !== undefined
        ? `That file is larger than ${formatBytes(init.limitBytes)} — please send a smaller photo.`
        : 'That file is too large — please send a smaller photo.';
    case 'TIMEOUT':
      return 'The download took too long — please try again, or attach the photo directly.';
    case 'TOO_SLOW':
      return init.minBytesPerSec !== undefined
        ? `That download was too slow (under ${formatBytes(init.minBytesPerSec)}/s) — please attach the photo directly, or try another link.`
        : 'That download was too slow — please attach the photo directly, or try another link.';
    case 'NOT_AN_IMAGE':
      return init.looksLike
        ? `That doesn't look like a photo (it seems to be ${init.looksLike}) — please send a JPEG, PNG or WebP image.`
        : "That doesn't look like a photo — please send a JPEG, PNG or WebP image.";
    case 'BAD_CHECKSUM':
      return 'The downloaded file is corrupted (its checksum does not match) — please try the download again.';
    case 'ABORTED':
      return 'The download was cancelled.';
    case 'NETWORK':
      return "I couldn't download that file because of a network problem — please try again in a moment.";
  }
}

function httpStatusMessage(status: number | undefined): string {
  if (status === 404 || status === 410) {
    return `I couldn't find that file (HTTP ${status}) — the link may have expired.`;
  }
  if (status === 401 || status === 403) {
    return `I'm not allowed to download that file (HTTP ${status}) — the link may be private or expired.`;
  }
  if (status !== undefined && status >= 500) {
    return `The server hosting that file had a problem (HTTP ${status}) — please try again later.`;
  }
  return status !== undefined ? `The server refused to send that file (HTTP ${status}).` : 'The server refused to send that file.';
}
