// Cheap photo-quality checks for the reply's hint: the answer is still given,
// with a nudge towards a larger, sharper photo of one flower.
import { decodeShortSide, decodeUpright, DEFAULT_MAX_PIXELS, probeImage, type ImageInfo, type RGBImage } from './images.ts';

export interface QualityOptions {
  /** Shorter side below this is "small" (BLOOM_MIN_IMAGE_SIDE). */
  minSide: number;
  /** Laplacian variance below this is "blurry", measured at 256 px on the shorter side. */
  blurThreshold?: number;
}

export interface QualityReport {
  width: number;
  height: number;
  sharpness: number;
  small: boolean;
  blurry: boolean;
  notes: string[];
}

/** Default chosen on the flowers valid set: clean photos sit well above it, strong blur well below. */
export const DEFAULT_BLUR_THRESHOLD = 60;

/** Variance of the 4-neighbour Laplacian of a greyscale image. */
export function laplacianVariance(grey: Uint8Array, w: number, h: number): number {
  let sum = 0,
    sq = 0,
    n = 0;
  for (let y = 1; y < h - 1; y++) {
    for (let x = 1; x < w - 1; x++) {
      const i = y * w + x;
      const v = grey[i - 1]! + grey[i + 1]! + grey[i - w]! + grey[i + w]! - 4 * grey[i]!;
      sum += v;
      sq += v * v;
      n++;
    }
  }
  if (n === 0) return 0;
  const mean = sum / n;
  return sq / n - mean * mean;
}

/** Sharpness is measured with the shorter side at this many pixels. */
export const QUALITY_SIDE = 256;

/**
 * `known` takes what the caller already has — the probe, and a copy decoded at
 * QUALITY_SIDE (the bot's, made for the model) — so a photo is not decoded
 * twice. A photo smaller than that is measured at its own size.
 */
export async function assessQuality(
  buf: Buffer,
  opts: QualityOptions,
  known: { info?: Pick<ImageInfo, 'width' | 'height'>; decoded?: RGBImage } = {},
  maxPixels = DEFAULT_MAX_PIXELS,
): Promise<QualityReport> {
  const info = known.info ?? (await probeImage(buf, maxPixels));
  const img =
    Math.min(info.width, info.height) > QUALITY_SIDE
      ? (known.decoded ?? (await decodeShortSide(buf, QUALITY_SIDE, maxPixels)))
      : await decodeUpright(buf, maxPixels);
  return qualityOf(img, info, opts);
}

/**
 * The report from an upright RGB copy whose shorter side is QUALITY_SIDE, or
 * the photo at its own size when it is smaller (enlarging would blur it).
 */
export function qualityOf(img: RGBImage, original: { width: number; height: number }, opts: QualityOptions): QualityReport {
  const { width, height } = original;
  const short = Math.min(width, height);
  const sharpness = laplacianVariance(lumaOf(img), img.width, img.height);
  const small = short < opts.minSide;
  const blurry = sharpness < (opts.blurThreshold ?? DEFAULT_BLUR_THRESHOLD);
  const notes: string[] = [];
  if (small)
    notes.push(
      `This photo is small (${width}×${height} px). A larger one, at least ${opts.minSide} px on the short side, gives better answers.`,
    );
  if (blurry) notes.push('This photo looks blurry. Hold still, tap to focus on the flower, and try again.');
  if (notes.length) notes.push('One flower filling most of the frame works best.');
  return { width, height, sharpness, small, blurry, notes };
}

/** Rec. 709 luma. */
function lumaOf(img: RGBImage): Uint8Array {
  const grey = new Uint8Array(img.width * img.height);
  for (let i = 0, j = 0; i < grey.length; i++, j += 3)
    grey[i] = Math.round(0.2126 * img.data[j]! + 0.7152 * img.data[j + 1]! + 0.0722 * img.data[j + 2]!);
  return grey;
}
