// Turns untrusted bytes into the backbone's input with sharp, or a typed error
// whose message can be shown to a user as it is.
import sharp, { type Sharp, type Metadata, type OutputInfo } from 'sharp';
import { UserFacingError } from '../errors.ts';
import { sniffImageType } from '../net/sniff.ts';

export type ImageErrorCode = 'EMPTY' | 'NOT_AN_IMAGE' | 'UNSUPPORTED' | 'CORRUPT' | 'TOO_MANY_PIXELS' | 'TOO_THIN' | 'HEIC';

const MESSAGES: Record<ImageErrorCode, string | ((detail?: string) => string)> = {
  EMPTY: 'That file is empty — please attach the photo again.',
  NOT_AN_IMAGE: "That file isn't an image I can read. Please send a photo (JPEG, PNG, WebP, GIF, TIFF or AVIF).",
  UNSUPPORTED: 'That is a drawing or document format, not a photo. Please send a photo (JPEG, PNG, WebP, GIF, TIFF or AVIF).',
  CORRUPT: 'That image looks damaged or cut off. Please send it again, or try another photo.',
  TOO_MANY_PIXELS: 'That image has too many pixels for me to open safely. Please send a smaller photo (under 40 megapixels).',
  TOO_THIN: (size) => `That image is extremely thin${size ? ` (${size} px)` : ''}. Please send a normal photo of the flower.`,
  HEIC: "That photo is in HEIC format (the iPhone's default), which I can't open. Please send it as a JPEG or PNG: export or share it as JPEG, take a screenshot of it, or set iPhone Settings → Camera → Formats → Most Compatible.",
};

export class ImageError extends UserFacingError<ImageErrorCode> {
  /** The detail, when there is one. */
  declare cause?: string;

  constructor(code: ImageErrorCode, detail?: string) {
    const message = MESSAGES[code];
    super(code, typeof message === 'function' ? message(detail) : message, { detail });
    this.name = 'ImageError';
    if (detail) this.cause = detail;
  }
}

/** Formats we accept as photos; sharp reports AVIF/HEIC as 'heif'. */
const PHOTO_FORMATS = new Set(['jpeg', 'png', 'webp', 'gif', 'tiff', 'heif', 'avif']);
export const DEFAULT_MAX_PIXELS = 40_000_000;
/**
 * Longest side over shortest side beyond which an image is refused (TOO_THIN):
 * scaling the short side of a 1×4000 strip up to 256 px made a 786 MB buffer.
 */
export const MAX_ASPECT_RATIO = 20;
/** No decode here ever produces more pixels than this (12 MB of RGB), whatever the input. */
export const MAX_DECODED_PIXELS = 2048 * 2048;

export interface ImageInfo {
  format: string;
  /** Upright size, after EXIF orientation. */
  width: number;
  height: number;
  bytes: number;
}

function sharpOf(buf: Buffer, maxPixels: number): Sharp {
  // failOn 'truncated': cut-off files fail, harmless encoder warnings do not.
  // pages: 1 keeps only the first frame of an animation.
  return sharp(buf, { limitInputPixels: maxPixels, failOn: 'truncated', pages: 1 });
}

/** HEVC-coded HEIF (iPhone photos): sharp's prebuilt libvips decodes AVIF only. */
const isHeic = (buf: Buffer) => sniffImageType(buf) === 'heif';

function toImageError(err: unknown, buf?: Buffer): ImageError {
  if (err instanceof ImageError) return err;
  const msg = (err as Error)?.message ?? String(err);
  if (buf && isHeic(buf)) return new ImageError('HEIC', msg);
  if (/unsupported image format|bad seek|Input buffer is empty/i.test(msg)) return new ImageError('NOT_AN_IMAGE', msg);
  if (/pixel limit/i.test(msg)) return new ImageError('TOO_MANY_PIXELS', msg);
  return new ImageError('CORRUPT', msg);
}

/** Reads the header only: format and upright size; refuses what is not a photo. */
export async function probeImage(buf: Buffer, maxPixels = DEFAULT_MAX_PIXELS): Promise<ImageInfo> {
  if (buf.length === 0) throw new ImageError('EMPTY');
  let meta: Metadata;
  try {
    meta = await sharp(buf, { limitInputPixels: false }).metadata();
  } catch (err) {
    throw toImageError(err, buf);
  }
  if (!meta.format || !PHOTO_FORMATS.has(meta.format)) {
    if (isHeic(buf)) throw new ImageError('HEIC', `format ${meta.format}`);
    throw new ImageError(meta.format === 'svg' || meta.format === 'pdf' ? 'UNSUPPORTED' : 'NOT_AN_IMAGE', `format ${meta.format}`);
  }
  const w = meta.width ?? 0;
  const h = meta.pageHeight ?? meta.height ?? 0;
  if (!w || !h) throw new ImageError('CORRUPT', 'no dimensions');
  if (w * h > maxPixels) throw new ImageError('TOO_MANY_PIXELS', `${w}x${h}`);
  const rotated = (meta.orientation ?? 1) >= 5;
  const [width, height] = rotated ? [h, w] : [w, h];
  if (Math.max(w, h) > MAX_ASPECT_RATIO * Math.min(w, h)) throw new ImageError('TOO_THIN', `${width}×${height}`);
  return { format: meta.format, width, height, bytes: buf.length };
}

/** Refuses a decode whose output would exceed MAX_DECODED_PIXELS (a second line behind the aspect rule). */
function checkBudget(width: number, height: number, info: ImageInfo): void {
  if (width * height > MAX_DECODED_PIXELS) throw new ImageError('TOO_THIN', `${info.width}×${info.height}`);
}

export interface RGBImage {
  data: Buffer;
  width: number;
  height: number;
}

/** Decodes to upright 8-bit sRGB without alpha (flattened on white). */
export async function decodeUpright(buf: Buffer, maxPixels = DEFAULT_MAX_PIXELS, maxSide?: number): Promise<RGBImage> {
  const probed = await probeImage(buf, maxPixels);
  // Never more than MAX_DECODED_PIXELS: a larger photo is shrunk (kept whole) to fit.
  const k = Math.min(1, Math.sqrt(MAX_DECODED_PIXELS / (probed.width * probed.height)));
  const fitW = Math.min(maxSide ?? Infinity, Math.max(1, Math.floor(probed.width * k)));
  const fitH = Math.min(maxSide ?? Infinity, Math.max(1, Math.floor(probed.height * k)));
  try {
    let img = sharpOf(buf, maxPixels).rotate().flatten({ background: '#ffffff' }).toColourspace('srgb');
    if (maxSide || k < 1) img = img.resize(fitW, fitH, { fit: 'inside', withoutEnlargement: true });
    const { data, info } = await img.removeAlpha().raw({ depth: 'uchar' }).toBuffer({ resolveWithObject: true });
    return expectRGB(data, info);
  } catch (err) {
    throw toImageError(err, buf);
  }
}

function expectRGB(data: Buffer, info: OutputInfo): RGBImage {
  if (info.channels === 3) return { data, width: info.width, height: info.height };
  // Single-band output (greyscale that stayed greyscale): replicate to RGB.
  const rgb = Buffer.alloc(info.width * info.height * 3);
  for (let i = 0, j = 0; i < data.length; i += info.channels, j += 3) rgb[j] = rgb[j + 1] = rgb[j + 2] = data[i]!;
  return { data: rgb, width: info.width, height: info.height };
}

export interface PrepareOptions {
  size: number;
  /** Fraction of the shorter side kept by the centre crop (0.875 = resize to 256, crop 224). */
  cropFraction?: number;
  maxPixels?: number;
}

/** Side the shorter edge is resized to before the centre crop (0.875 = 256 → 224). */
export const outerSide = (size: number, cropFraction = 0.875) => Math.max(size, Math.round(size / cropFraction));

/**
 * Upright RGB with the shorter side scaled (up or down) to `side`: one decode
 * serves both the model's centre view (centreCrop) and the quality check.
 */
export async function decodeShortSide(buf: Buffer, side: number, maxPixels = DEFAULT_MAX_PIXELS): Promise<RGBImage> {
  const probed = await probeImage(buf, maxPixels);
  const short = Math.min(probed.width, probed.height),
    long = Math.max(probed.width, probed.height);
  checkBudget(side, Math.ceil((side * long) / short), probed);
  try {
    const { data, info } = await sharpOf(buf, maxPixels)
      .rotate()
      .flatten({ background: '#ffffff' })
      .toColourspace('srgb')
      .resize(side, side, { fit: 'outside' })
      .removeAlpha()
      .raw({ depth: 'uchar' })
      .toBuffer({ resolveWithObject: true });
    return expectRGB(data, info);
  } catch (err) {
    throw toImageError(err, buf);
  }
}

/** prepareImage's crop, taken from an image decodeShortSide already scaled to outerSide(size). */
export function centreCrop(img: RGBImage, size: number): Uint8Array {
  const outer = Math.min(img.width, img.height);
  // Same offsets as sharp's 'cover' square (libvips rounds half up) then extract,
  // so the pixels match prepareImage's exactly.
  const left = Math.round((img.width - outer) / 2) + Math.floor((outer - size) / 2);
  const top = Math.round((img.height - outer) / 2) + Math.floor((outer - size) / 2);
  const out = new Uint8Array(size * size * 3);
  for (let y = 0; y < size; y++) {
    const from = ((top + y) * img.width + left) * 3;
    out.set(img.data.subarray(from, from + size * 3), y * size * 3);
  }
  return out;
}

/** The classic eval transform: resize the shorter side, centre-crop a square (one sharp pass). */
export async function prepareImage(buf: Buffer, opts: PrepareOptions): Promise<Uint8Array> {
  const maxPixels = opts.maxPixels ?? DEFAULT_MAX_PIXELS;
  await probeImage(buf, maxPixels);
  const { size } = opts;
  const outer = outerSide(size, opts.cropFraction);
  const off = Math.floor((outer - size) / 2);
  try {
    const { data, info } = await sharpOf(buf, maxPixels)
      .rotate()
      .flatten({ background: '#ffffff' })
      .toColourspace('srgb')
      .resize(outer, outer, { fit: 'cover', position: 'centre' })
      .extract({ left: off, top: off, width: size, height: size })
      .removeAlpha()
      .raw({ depth: 'uchar' })
      .toBuffer({ resolveWithObject: true });
    const rgb = expectRGB(data, info).data;
    return new Uint8Array(rgb.buffer, rgb.byteOffset, rgb.byteLength);
  } catch (err) {
    throw toImageError(err, buf);
  }
}

/** The centred square covering `frac` of an image's shorter side. */
export function centredSquare(img: { width: number; height: number }, frac: number) {
  const side = Math.max(1, Math.round(Math.min(img.width, img.height) * frac));
  return { left: Math.floor((img.width - side) / 2), top: Math.floor((img.height - side) / 2), width: side, height: side };
}

/** Upright RGB → a square input, flipped or cropped at a given box (TTA views, the zoom answer crop). */
export async function cropBox(
  img: RGBImage,
  box: { left: number; top: number; width: number; height: number },
  size: number,
  flip = false,
): Promise<Uint8Array> {
  let p = sharp(img.data, { raw: { width: img.width, height: img.height, channels: 3 } })
    .extract(box)
    .resize(size, size, { fit: 'fill' });
  if (flip) p = p.flop();
  const data = await p.raw().toBuffer();
  return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
}
