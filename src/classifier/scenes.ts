// Photos as people post them, made from tidy ones (issue 12): a bed or
// bouquet of several blooms, one bloom small in a larger scene, an extreme
// close-up, a hand or stem at the edge, a filter, a vignette or a blown-out
// exposure. Used as extra training views (level 'scene') and, drawn from the
// valid photos with their own seed, as the real-photo check (scripts/make-check-set.ts).
import sharp, { type Sharp } from 'sharp';
import type { RGBImage } from './images.ts';

export type SceneKind = 'bed' | 'far' | 'macro' | 'hand' | 'filter' | 'light';
export const SCENE_KINDS: readonly SceneKind[] = ['bed', 'far', 'macro', 'hand', 'filter', 'light'];

/** The photo and, on demand, other photos of the same species (companions for a bed, or a background). */
export interface SceneInputs {
  photo: RGBImage;
  /** Another photo of the same species, drawn with `r` (the photo itself when it has none). */
  sameSpecies: (r: () => number) => Promise<RGBImage>;
}

const between = (r: () => number, lo: number, hi: number) => lo + (hi - lo) * r();
const rawOf = (img: RGBImage) => sharp(img.data, { raw: { width: img.width, height: img.height, channels: 3 } });

async function rgb(p: Sharp): Promise<RGBImage> {
  const { data, info } = await p.removeAlpha().raw().toBuffer({ resolveWithObject: true });
  return { data, width: info.width, height: info.height };
}

function out(img: RGBImage): Uint8Array {
  return new Uint8Array(img.data.buffer, img.data.byteOffset, img.data.byteLength);
}

/** A square crop covering `area` of the shorter side's square, centred at (cx, cy) as fractions of the free range. */
function squareCrop(img: RGBImage, area: number, cx: number, cy: number) {
  const side = Math.max(1, Math.round(Math.min(img.width, img.height) * Math.sqrt(area)));
  return {
    left: Math.round((img.width - side) * cx),
    top: Math.round((img.height - side) * cy),
    width: side,
    height: side,
  };
}

async function cropTo(img: RGBImage, box: ReturnType<typeof squareCrop>, w: number, h = w): Promise<RGBImage> {
  return rgb(rawOf(img).extract(box).resize(w, h, { fit: 'fill' }));
}

/** Several blooms of the species in one frame: a grid of crops of the photo and its companions, as a bed or bouquet. */
async function bed(r: () => number, input: SceneInputs, size: number): Promise<RGBImage> {
  const n = r() < 0.6 ? 2 : 3;
  const cell = Math.ceil(size / n);
  const tiles = await Promise.all(
    Array.from({ length: n * n }, async (_, k) => {
      const src = k === 0 || r() < 0.25 ? input.photo : await input.sameSpecies(r);
      return cropTo(src, squareCrop(src, between(r, 0.35, 1), r(), r()), cell);
    }),
  );
  const canvas = sharp({ create: { width: cell * n, height: cell * n, channels: 3, background: '#2f4a22' } }).composite(
    tiles.map((t, k) => ({
      input: t.data,
      raw: { width: cell, height: cell, channels: 3 as const },
      left: (k % n) * cell,
      top: Math.floor(k / n) * cell,
    })),
  );
  const grid = await rgb(canvas);
  return rgb(rawOf(grid).resize(size, size));
}

/** Alpha that fades out towards the edges of a w×h patch (an ellipse with a soft rim). */
function softEllipse(w: number, h: number, rim = 0.25): Buffer {
  const a = Buffer.alloc(w * h);
  for (let y = 0; y < h; y++)
    for (let x = 0; x < w; x++) {
      const dx = (x + 0.5) / w - 0.5,
        dy = (y + 0.5) / h - 0.5;
      const d = Math.sqrt(dx * dx + dy * dy) * 2; // 0 centre, 1 at the inscribed ellipse
      a[y * w + x] = Math.round(255 * Math.max(0, Math.min(1, (1 - d) / rim)));
    }
  return a;
}

async function withAlpha(img: RGBImage, alpha: Buffer): Promise<Buffer> {
  return rawOf(img)
    .joinChannel(alpha, { raw: { width: img.width, height: img.height, channels: 1 } })
    .raw()
    .toBuffer();
}

/** The bloom small in a larger scene: shrunk onto blurred surroundings (its own, or another photo of the species). */
async function far(r: () => number, input: SceneInputs, size: number): Promise<RGBImage> {
  const bgSrc = r() < 0.5 ? input.photo : await input.sameSpecies(r);
  const bg = await rgb(
    rawOf(bgSrc)
      .resize(size, size, { fit: 'cover' })
      .blur(between(r, 4, 12))
      .modulate({ saturation: between(r, 0.5, 1), brightness: between(r, 0.8, 1.1) }),
  );
  const side = Math.max(8, Math.round(size * between(r, 0.22, 0.5)));
  const bloom = await cropTo(input.photo, squareCrop(input.photo, between(r, 0.5, 0.9), 0.5, 0.5), side);
  const left = Math.round((size - side) * r()),
    top = Math.round((size - side) * r());
  return rgb(
    rawOf(bg).composite([
      { input: await withAlpha(bloom, softEllipse(side, side)), raw: { width: side, height: side, channels: 4 }, left, top },
    ]),
  );
}

/** An extreme close-up: 10–30 % of the photo's area, near its middle, sometimes with a shallow-focus blur. */
async function macro(r: () => number, input: SceneInputs, size: number): Promise<RGBImage> {
  const box = squareCrop(input.photo, between(r, 0.1, 0.3), between(r, 0.25, 0.75), between(r, 0.25, 0.75));
  const img = await cropTo(input.photo, box, size);
  return r() < 0.3 ? rgb(rawOf(img).blur(between(r, 0.8, 2))) : img;
}

/** A hand holding the flower, or stems crossing the frame, drawn over one edge. */
async function hand(r: () => number, input: SceneInputs, size: number): Promise<RGBImage> {
  const base = await cropTo(input.photo, squareCrop(input.photo, between(r, 0.5, 1), r(), r()), size);
  const skin = [
    [241, 194, 167],
    [224, 172, 137],
    [198, 134, 96],
    [141, 85, 54],
    [92, 56, 38],
  ][Math.floor(r() * 5)]!;
  const shade = (k: number) => `rgb(${skin.map((c) => Math.round(c * k)).join(',')})`;
  const parts: string[] = [];
  const stems = 1 + Math.floor(r() * 3);
  for (let i = 0; i < stems; i++) {
    const x0 = size * between(r, 0.3, 0.7),
      x1 = x0 + size * between(r, -0.25, 0.25);
    parts.push(
      `<path d="M${x0},${size * 0.55} Q${(x0 + x1) / 2 + size * between(r, -0.1, 0.1)},${size * 0.8} ${x1},${size}" stroke="rgb(${Math.round(between(r, 40, 90))},${Math.round(between(r, 100, 150))},${Math.round(between(r, 30, 70))})" stroke-width="${between(r, 3, 9).toFixed(1)}" fill="none"/>`,
    );
  }
  if (r() < 0.75) {
    // A fist from the bottom edge: palm and four fingers wrapped round the stems.
    const cx = size * between(r, 0.3, 0.7),
      w = size * between(r, 0.3, 0.5),
      top = size * between(r, 0.62, 0.8);
    parts.push(`<ellipse cx="${cx}" cy="${size * 1.05}" rx="${w * 0.6}" ry="${size - top + size * 0.1}" fill="${shade(1)}"/>`);
    for (let f = 0; f < 4; f++)
      parts.push(
        `<rect x="${cx - w / 2}" y="${top + f * w * 0.16}" width="${w}" height="${w * 0.17}" rx="${w * 0.08}" fill="${shade(0.92 + 0.04 * (f % 2))}" stroke="${shade(0.7)}" stroke-width="1"/>`,
      );
  }
  const svg = Buffer.from(`<svg xmlns="http://www.w3.org/2000/svg" width="${size}" height="${size}">${parts.join('')}</svg>`);
  const drawn = rawOf(base).composite([{ input: svg, left: 0, top: 0 }]);
  // Turned so the hand or stems may come from any edge.
  const turns = Math.floor(r() * 4);
  return rgb(sharp(await drawn.png().toBuffer()).rotate(90 * turns));
}

/** Grayscale, sepia, a strong colour cast or an oversaturated "vivid" edit. */
async function filter(r: () => number, input: SceneInputs, size: number): Promise<RGBImage> {
  const base = await cropTo(input.photo, squareCrop(input.photo, between(r, 0.6, 1), r(), r()), size);
  const p = rawOf(base);
  const k = r();
  const luma: [number, number, number] = [0.299, 0.587, 0.114];
  if (k < 0.35) return rgb(p.recomb([luma, luma, luma]));
  if (k < 0.55)
    return rgb(
      p.recomb([
        [0.393, 0.769, 0.189],
        [0.349, 0.686, 0.168],
        [0.272, 0.534, 0.131],
      ]),
    );
  if (k < 0.8) {
    // A cast: each channel scaled on its own (warm, cool, green or magenta looks).
    const gains = [between(r, 0.6, 1.4), between(r, 0.6, 1.4), between(r, 0.6, 1.4)];
    return rgb(p.linear(gains, [between(r, -20, 20), between(r, -20, 20), between(r, -20, 20)]));
  }
  return rgb(p.modulate({ saturation: between(r, 1.6, 2.5) }).linear(1.15, -15));
}

/** A dark vignette, a blown-out exposure, or both. */
async function light(r: () => number, input: SceneInputs, size: number): Promise<RGBImage> {
  let img = await cropTo(input.photo, squareCrop(input.photo, between(r, 0.6, 1), r(), r()), size);
  const k = r();
  if (k < 0.65) {
    const gain = between(r, 1.3, 1.9);
    img = await rgb(rawOf(img).linear(gain, between(r, 0, 25)));
  }
  if (k >= 0.35) {
    const o = between(r, 0.5, 0.9).toFixed(2);
    const svg = Buffer.from(
      `<svg xmlns="http://www.w3.org/2000/svg" width="${size}" height="${size}"><defs><radialGradient id="v" cx="50%" cy="50%" r="${Math.round(between(r, 55, 75))}%"><stop offset="45%" stop-color="black" stop-opacity="0"/><stop offset="100%" stop-color="black" stop-opacity="${o}"/></radialGradient></defs><rect width="${size}" height="${size}" fill="url(#v)"/></svg>`,
    );
    img = await rgb(
      sharp(
        await rawOf(img)
          .composite([{ input: svg }])
          .png()
          .toBuffer(),
      ),
    );
  }
  return img;
}

const RENDER: Record<SceneKind, (r: () => number, input: SceneInputs, size: number) => Promise<RGBImage>> = {
  bed,
  far,
  macro,
  hand,
  filter,
  light,
};

/** The kind of a scene view, drawn evenly. */
export function pickScene(r: () => number): SceneKind {
  return SCENE_KINDS[Math.min(SCENE_KINDS.length - 1, Math.floor(r() * SCENE_KINDS.length))]!;
}

/** Renders a scene of `kind` as an upright size×size RGB image. */
export async function renderScene(kind: SceneKind, r: () => number, input: SceneInputs, size: number): Promise<RGBImage> {
  const img = await RENDER[kind](r, input, size);
  if (img.width === size && img.height === size) return img;
  return rgb(rawOf(img).resize(size, size, { fit: 'fill' }));
}

/** A scene as a model input (size×size RGB bytes). */
export async function sceneInput(kind: SceneKind, r: () => number, input: SceneInputs, size: number): Promise<Uint8Array> {
  return out(await renderScene(kind, r, input, size));
}
