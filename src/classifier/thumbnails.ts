// The "typical one" photo of each class, kept beside a model as a small JPEG
// (typical/<label>.jpg), so a reply can show it without the training photos.
import fs from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';

export const TYPICAL_DIR = 'typical';
/** Longest side of a stored thumbnail, in pixels. */
export const THUMB_SIDE = 128;

export function thumbnailPath(modelDir: string, label: string): string {
  return path.join(modelDir, TYPICAL_DIR, `${label.replace(/[^a-zA-Z0-9._-]/g, '_')}.jpg`);
}

/** A photo file → a small upright JPEG (a few KB). */
export function makeThumbnail(file: string, side = THUMB_SIDE): Promise<Buffer> {
  return sharp(file).rotate().resize(side, side, { fit: 'inside' }).jpeg({ quality: 78, mozjpeg: true }).toBuffer();
}

/**
 * Writes typical/<label>.jpg into modelDir for each label of `typical`
 * (label → photo path relative to one of `roots`); returns the labels without a photo.
 */
export async function writeThumbnails(modelDir: string, typical: Record<string, string>, roots: string[]): Promise<string[]> {
  fs.mkdirSync(path.join(modelDir, TYPICAL_DIR), { recursive: true });
  const missing: string[] = [];
  for (const [label, rel] of Object.entries(typical)) {
    const file = roots.map((r) => path.join(r, rel)).find((f) => fs.existsSync(f));
    if (!file) {
      missing.push(label);
      continue;
    }
    fs.writeFileSync(thumbnailPath(modelDir, label), await makeThumbnail(file));
  }
  return missing;
}
