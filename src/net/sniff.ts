/**
 * Content sniffing by magic bytes. Headers and file names are attacker
 * controlled, so the first bytes of the body are the only thing we trust.
 * A hand-written table keeps this dependency-free and covers every format
 * sharp can decode that people actually send as photos.
 */

export type ImageKind = 'jpeg' | 'png' | 'gif' | 'webp' | 'tiff' | 'avif' | 'heif' | 'bmp';

/** Things that are clearly "not a photo", used for a friendlier error. */
export type NonImageKind = 'svg' | 'html' | 'xml' | 'pdf' | 'text';

export const IMAGE_MIME: Readonly<Record<ImageKind, string>> = {
  jpeg: 'image/jpeg',
  png: 'image/png',
  gif: 'image/gif',
  webp: 'image/webp',
  tiff: 'image/tiff',
  avif: 'image/avif',
  heif: 'image/heif',
  bmp: 'image/bmp',
};

/** Enough leading bytes to classify anything in the tables below. */
export const SNIFF_BYTES = 512;

const ascii = (buf: Uint8Array, start: number, end: number): string => String.fromCharCode(...buf.subarray(start, end));

const startsWith = (buf: Uint8Array, sig: readonly number[], at = 0): boolean =>
  buf.length >= at + sig.length && sig.every((b, i) => buf[at + i] === b);

const AVIF_BRANDS = new Set(['avif', 'avis']);
const HEIF_BRANDS = new Set(['heic', 'heix', 'hevc', 'hevx', 'heim', 'heis', 'mif1', 'msf1']);
// BITMAPCOREHEADER .. BITMAPV5HEADER sizes; "BM" alone is too weak a signature.
const BMP_DIB_SIZES = new Set([12, 40, 52, 56, 64, 108, 124]);

export function sniffImageType(buf: Uint8Array): ImageKind | null {
  if (startsWith(buf, [0xff, 0xd8, 0xff])) return 'jpeg';
  if (startsWith(buf, [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a])) return 'png';
  if (buf.length >= 6 && (ascii(buf, 0, 6) === 'GIF87a' || ascii(buf, 0, 6) === 'GIF89a')) return 'gif';
  if (buf.length >= 12 && ascii(buf, 0, 4) === 'RIFF' && ascii(buf, 8, 12) === 'WEBP') return 'webp';
  // Little-endian "II*\0", big-endian "MM\0*", and BigTIFF (43 instead of 42).
  if (startsWith(buf, [0x49, 0x49, 0x2a, 0x00]) || startsWith(buf, [0x4d, 0x4d, 0x00, 0x2a])) return 'tiff';
  if (startsWith(buf, [0x49, 0x49, 0x2b, 0x00]) || startsWith(buf, [0x4d, 0x4d, 0x00, 0x2b])) return 'tiff';
  const isobmff = sniffFtyp(buf);
  if (isobmff) return isobmff;
  if (buf.length >= 18 && buf[0] === 0x42 && buf[1] === 0x4d) {
    const dib = buf[14]! | (buf[15]! << 8) | (buf[16]! << 16) | (buf[17]! << 24);
    if (BMP_DIB_SIZES.has(dib)) return 'bmp';
  }
  return null;
}

/** ISO-BMFF `ftyp` box: major brand at 8..12, compatible brands after 16. */
function sniffFtyp(buf: Uint8Array): 'avif' | 'heif' | null {
  if (buf.length < 16 || ascii(buf, 4, 8) !== 'ftyp') return null;
  const boxSize = ((buf[0]! << 24) | (buf[1]! << 16) | (buf[2]! << 8) | buf[3]!) >>> 0;
  const end = Math.min(buf.length, boxSize >= 16 ? boxSize : 16);
  const brands = [ascii(buf, 8, 12)];
  for (let i = 16; i + 4 <= end; i += 4) brands.push(ascii(buf, i, i + 4));
  if (brands.some((b) => AVIF_BRANDS.has(b))) return 'avif';
  if (brands.some((b) => HEIF_BRANDS.has(b))) return 'heif';
  return null; // e.g. MP4/QuickTime video
}

/** Recognise common non-photo content so we can say what it was. */
export function sniffNonImageType(buf: Uint8Array): NonImageKind | null {
  if (buf.length >= 5 && ascii(buf, 0, 5) === '%PDF-') return 'pdf';
  let head = Buffer.from(buf.subarray(0, SNIFF_BYTES)).toString('utf8');
  head = head
    .replace(/^\uFEFF/, '')
    .trimStart()
    .toLowerCase();
  if (head.startsWith('<')) {
    if (/<svg[\s/>]/.test(head)) return 'svg';
    if (/^<!doctype html|<html[\s>]|<head[\s>]|<body[\s>]/.test(head)) return 'html';
    if (head.startsWith('<?xml')) return 'xml';
  }
  return looksLikeText(buf.subarray(0, SNIFF_BYTES)) ? 'text' : null;
}

/** No NULs and almost only printable/whitespace bytes (UTF-8 lead/continuation bytes count). */
function looksLikeText(buf: Uint8Array): boolean {
  if (buf.length === 0) return false;
  let odd = 0;
  for (const b of buf) {
    if (b === 0) return false;
    const printable = b === 9 || b === 10 || b === 13 || b === 12 || (b >= 0x20 && b !== 0x7f);
    if (!printable) odd++;
  }
  return odd / buf.length < 0.05;
}

/** Phrase for error messages: "it seems to be an SVG drawing". */
export function describeNonImage(kind: NonImageKind | null): string | undefined {
  switch (kind) {
    case 'svg':
      return 'an SVG drawing';
    case 'html':
      return 'a web page';
    case 'xml':
      return 'an XML document';
    case 'pdf':
      return 'a PDF document';
    case 'text':
      return 'a text file';
    case null:
      return undefined;
  }
}
