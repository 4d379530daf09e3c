// The crops the model looks at when it answers (issue 12): the classic centre
// crop misses a bloom that is small, off-centre or part of a bed, so an answer
// may also look at the whole photo and a closer zoom. The bot and `evaluate`
// render them with these same functions, so the figures are the bot's.
import sharp, { type Sharp } from 'sharp';
import { meanProbs } from './ranking.ts';
import { centreCrop, centredSquare, cropBox, decodeShortSide, outerSide, type RGBImage } from './images.ts';

/** 'centre': resize the shorter side to 256, crop 224 (as trained); 'whole': the whole photo, letterboxed; 'zoom': the middle 55 %. */
export type CropName = 'centre' | 'whole' | 'zoom';
export const CROP_NAMES: readonly CropName[] = ['centre', 'whole', 'zoom'];

/** How a photo's crops become one answer: the mean of their probabilities, or the crop the model is surest of. */
export type CropCombine = 'mean' | 'max';

export interface AnswerViews {
  crops: CropName[];
  combine: CropCombine;
}

export const CENTRE_VIEW: AnswerViews = { crops: ['centre'], combine: 'mean' };

/** Zoom: the middle 55 % of the shorter side, so a bloom a quarter of the frame across fills most of it. */
const ZOOM = 0.55;

/** The shorter side to decode at so the zoom still has the model's resolution. */
export const cropDecodeSide = (size: number, crops: readonly CropName[]) =>
  crops.includes('zoom') ? Math.round(size / ZOOM) : crops.includes('whole') ? 2 * size : outerSide(size);

const raw = (img: RGBImage) => sharp(img.data, { raw: { width: img.width, height: img.height, channels: 3 } });

async function bytesOf(p: Sharp): Promise<Uint8Array> {
  const data = await p.removeAlpha().raw().toBuffer();
  return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
}

/** The whole photo inside the square, the bands filled with a blurred copy of it (no grey bars for the model to read). */
async function whole(img: RGBImage, size: number): Promise<Uint8Array> {
  const fit = await raw(img).resize(size, size, { fit: 'inside' }).raw().toBuffer({ resolveWithObject: true });
  const back = await raw(img).resize(size, size, { fit: 'cover' }).blur(12).raw().toBuffer();
  const { width, height } = fit.info;
  return bytesOf(
    sharp(back, { raw: { width: size, height: size, channels: 3 } }).composite([
      {
        input: fit.data,
        raw: { width, height, channels: 3 },
        left: Math.floor((size - width) / 2),
        top: Math.floor((size - height) / 2),
      },
    ]),
  );
}

/**
 * The model inputs of one photo for `crops`, from one decode. The centre crop
 * is taken at 256 → 224 exactly as prepareImage takes it (the training views'
 * pixels), the others from a larger decode.
 */
export async function cropInputs(bytes: Buffer, crops: readonly CropName[], size: number, maxPixels?: number): Promise<Uint8Array[]> {
  const needsLarge = crops.some((c) => c !== 'centre');
  const small = crops.includes('centre') ? await decodeShortSide(bytes, outerSide(size), maxPixels) : undefined;
  const large = needsLarge ? await decodeShortSide(bytes, cropDecodeSide(size, crops), maxPixels) : undefined;
  return Promise.all(
    crops.map((c) =>
      c === 'centre'
        ? Promise.resolve(centreCrop(small!, size))
        : c === 'whole'
          ? whole(large!, size)
          : cropBox(large!, centredSquare(large!, ZOOM), size),
    ),
  );
}

/** Parses "centre,whole,zoom" (any order, no repeats). */
export function parseCrops(text: string): CropName[] {
  const names = text
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  for (const n of names)
    if (!(CROP_NAMES as readonly string[]).includes(n)) throw new Error(`unknown crop "${n}" (use ${CROP_NAMES.join(', ')})`);
  if (names.length === 0) throw new Error('name at least one crop');
  if (new Set(names).size !== names.length) throw new Error(`a crop is named twice in "${text}"`);
  return names as CropName[];
}

/** --crops and --combine as answer views. */
export function parseAnswerViews(crops: string, combine: string): AnswerViews {
  if (combine !== 'mean' && combine !== 'max') throw new Error(`--combine must be mean or max (got "${combine}")`);
  const names = parseCrops(crops);
  if (names.includes('centre') && names[0] !== 'centre') throw new Error('the centre crop comes first in --crops');
  return { crops: names, combine };
}

/** One probability row per photo from its crops' rows. */
export function combineCrops(rows: Float32Array[], combine: CropCombine): Float32Array {
  if (rows.length === 1) return rows[0]!;
  if (combine === 'max') {
    let best = rows[0]!,
      bestTop = -1;
    for (const r of rows) {
      let top = 0;
      for (const p of r) top = Math.max(top, p);
      if (top > bestTop) [best, bestTop] = [r, top];
    }
    return best;
  }
  return meanProbs(rows);
}
