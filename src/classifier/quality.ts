// Cheap photo-quality checks for the reply's hint: the answer is still given,
// with a nudge towards a larger, sharper photo of one flower.
import sharp from 'sharp';
import { DEFAULT_MAX_PIXELS } from './images.ts';

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
  let sum = 0, sq = 0, n = 0;
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

export async function assessQuality(buf: Buffer, opts: QualityOptions, maxPixels = DEFAULT_MAX_PIXELS): Promise<QualityReport> {
  const img = sharp(buf, { limitInputPixels: maxPixels, pages: 1 }).rotate();
  const meta = await sharp(buf, { limitInputPixels: maxPixels }).metadata();
  const turned = (meta.orientation ?? 1) >= 5;
  const width = (turned ? meta.pageHeight ?? meta.height : meta.width) ?? 0;
  const height = (turned ? meta.width : meta.pageHeight ?? meta.height) ?? 0;
  // Measure sharpness at a fixed scale so the threshold does not depend on resolution.
  const short = Math.min(width, height);
  const k = short > 256 ? 256 / short : 1;
  const { data, info } = await img
    .resize(Math.max(1, Math.round(width * k)), Math.max(1, Math.round(height * k)), { fit: 'fill' })
    .greyscale()
    .extractChannel(0)
    .raw()
    .toBuffer({ resolveWithObject: true });
  const sharpness = laplacianVariance(data, info.width, info.height);
  const small = short < opts.minSide;
  const blurry = sharpness < (opts.blurThreshold ?? DEFAULT_BLUR_THRESHOLD);
  const notes: string[] = [];
  if (small) notes.push(`This photo is small (${width}×${height} px). A larger one, at least ${opts.minSide} px on the short side, gives better answers.`);
  if (blurry) notes.push('This photo looks blurry. Hold still, tap to focus on the flower, and try again.');
  if (notes.length) notes.push('One flower filling most of the frame works best.');
  return { width, height, sharpness, small, blurry, notes };
}
