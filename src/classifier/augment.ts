// Random photo transforms, deterministic under a seed. Used both as extra
// training views (so the head learns phone-photo conditions) and, with a
// harsher sampler, as the perturbations of `evaluate --perturb`.
import sharp, { type Sharp } from 'sharp';
import type { RGBImage } from './images.ts';

/** mulberry32: tiny, fast, good enough for augmentation draws. */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Seed from strings (e.g. image hash + view index), so views are stable across runs. */
export function seedOf(...parts: (string | number)[]): number {
  let h = 2166136261;
  for (const ch of parts.join('|')) h = Math.imul(h ^ ch.charCodeAt(0), 16777619);
  return h >>> 0;
}

export interface Transform {
  /** Crop as fractions of the (rotated, border-free) image: area and aspect, centre offset. */
  area: number;
  aspect: number;
  cx: number;
  cy: number;
  rotateDeg: number;
  flip: boolean;
  brightness: number;
  contrast: number;
  saturation: number;
  blurSigma: number;
  /** Shorter side to shrink to before the final resize; 0 = no downscale. */
  downscaleTo: number;
  /** JPEG quality for a re-compression round trip; 0 = none. */
  jpegQuality: number;
  /** Sensor noise: standard deviation in 0..255 pixel units; 0 = none. */
  noiseSigma?: number;
}

export const IDENTITY: Transform = {
  area: 1,
  aspect: 1,
  cx: 0.5,
  cy: 0.5,
  rotateDeg: 0,
  flip: false,
  brightness: 1,
  contrast: 1,
  saturation: 1,
  blurSigma: 0,
  downscaleTo: 0,
  jpegQuality: 0,
};

export type AugmentLevel = 'basic' | 'robust' | 'phone';
export const AUGMENT_LEVELS: readonly AugmentLevel[] = ['basic', 'robust', 'phone'];

const between = (r: () => number, lo: number, hi: number) => lo + (hi - lo) * r();

/**
 * Training views. 'basic' is the classic random resized crop + flip;
 * 'robust' adds rotation, colour jitter, blur, low resolution and JPEG artefacts;
 * 'phone' draws them more often and wider, and adds sensor noise, because on
 * real phone photos they come together (each alone costs a few points; all
 * together cost the 'robust' model about 25).
 */
export function sampleTransform(r: () => number, level: AugmentLevel): Transform {
  if (level === 'phone') return samplePhone(r);
  const t: Transform = {
    ...IDENTITY,
    area: between(r, 0.5, 1),
    aspect: Math.exp(between(r, Math.log(3 / 4), Math.log(4 / 3))),
    cx: r(),
    cy: r(),
    flip: r() < 0.5,
  };
  if (level === 'basic') return t;
  t.rotateDeg = r() < 0.6 ? between(r, -20, 20) : 0;
  t.brightness = between(r, 0.6, 1.35);
  t.contrast = between(r, 0.7, 1.3);
  t.saturation = between(r, 0.6, 1.4);
  t.blurSigma = r() < 0.3 ? between(r, 0.5, 2) : 0;
  t.downscaleTo = r() < 0.4 ? Math.round(between(r, 100, 200)) : 0;
  t.jpegQuality = r() < 0.4 ? Math.round(between(r, 15, 50)) : 0;
  return t;
}

function samplePhone(r: () => number): Transform {
  return {
    area: between(r, 0.3, 1),
    aspect: Math.exp(between(r, Math.log(3 / 4), Math.log(4 / 3))),
    cx: r(),
    cy: r(),
    flip: r() < 0.5,
    rotateDeg: r() < 0.7 ? between(r, -30, 30) : 0,
    brightness: between(r, 0.4, 1.5),
    contrast: between(r, 0.55, 1.3),
    saturation: between(r, 0.4, 1.5),
    blurSigma: r() < 0.5 ? between(r, 0.5, 3) : 0,
    noiseSigma: r() < 0.3 ? between(r, 2, 10) : 0,
    downscaleTo: r() < 0.6 ? Math.round(between(r, 64, 200)) : 0,
    jpegQuality: r() < 0.7 ? Math.round(between(r, 8, 50)) : 0,
  };
}

/** Harsher, phone-like conditions for robustness evaluation (never used for training). */
export function samplePerturbation(r: () => number): Transform {
  return {
    area: between(r, 0.4, 0.9),
    aspect: Math.exp(between(r, Math.log(3 / 4), Math.log(4 / 3))),
    cx: r(),
    cy: r(),
    rotateDeg: between(r, -25, 25),
    flip: r() < 0.5,
    brightness: r() < 0.5 ? between(r, 0.45, 0.8) : between(r, 1.0, 1.4),
    contrast: between(r, 0.6, 1.2),
    saturation: between(r, 0.5, 1.3),
    blurSigma: r() < 0.5 ? between(r, 0.6, 2.5) : 0,
    downscaleTo: r() < 0.5 ? Math.round(between(r, 80, 180)) : 0,
    jpegQuality: r() < 0.7 ? Math.round(between(r, 10, 40)) : 0,
  };
}

/** Largest axis-aligned rectangle inside a w×h image rotated by `rad` (no fill borders). */
export function innerRect(w: number, h: number, rad: number): { w: number; h: number } {
  if (w <= 0 || h <= 0) return { w: 0, h: 0 };
  const long = Math.max(w, h),
    short = Math.min(w, h);
  const s = Math.abs(Math.sin(rad)),
    c = Math.abs(Math.cos(rad));
  let wr: number, hr: number;
  if (short <= 2 * s * c * long || Math.abs(s - c) < 1e-10) {
    const x = 0.5 * short;
    [wr, hr] = w >= h ? [x / s, x / c] : [x / c, x / s];
  } else {
    const cos2 = c * c - s * s;
    wr = (w * c - h * s) / cos2;
    hr = (h * c - w * s) / cos2;
  }
  return { w: Math.floor(wr), h: Math.floor(hr) };
}

/** Gaussian pixel noise (Box–Muller), seeded so a view is reproducible. */
function addNoise(img: RGBImage, sigma: number, seed: number): RGBImage {
  const r = rng(seed);
  const out = Buffer.allocUnsafe(img.data.length);
  for (let i = 0; i < out.length; i++) {
    const n = Math.sqrt(-2 * Math.log(1 - r())) * Math.cos(2 * Math.PI * r());
    out[i] = Math.max(0, Math.min(255, Math.round(img.data[i]! + sigma * n)));
  }
  return { ...img, data: out };
}

const raw = (img: RGBImage) => sharp(img.data, { raw: { width: img.width, height: img.height, channels: 3 } });

async function toRGB(p: Sharp): Promise<RGBImage> {
  const { data, info } = await p.removeAlpha().raw().toBuffer({ resolveWithObject: true });
  return { data, width: info.width, height: info.height };
}

/** Applies a transform to an upright RGB image and returns a size×size input. */
export async function applyTransform(img: RGBImage, t: Transform, size: number): Promise<Uint8Array> {
  let cur = img;
  let inner = { w: img.width, h: img.height };
  if (t.rotateDeg) {
    cur = await toRGB(raw(img).rotate(t.rotateDeg, { background: '#808080' }));
    inner = innerRect(img.width, img.height, (t.rotateDeg * Math.PI) / 180);
  }
  // Random resized crop inside the border-free rectangle.
  const area = inner.w * inner.h * t.area;
  const cw = Math.max(1, Math.min(inner.w, Math.round(Math.sqrt(area * t.aspect))));
  const ch = Math.max(1, Math.min(inner.h, Math.round(Math.sqrt(area / t.aspect))));
  const x0 = Math.floor((cur.width - inner.w) / 2),
    y0 = Math.floor((cur.height - inner.h) / 2);
  const left = x0 + Math.round((inner.w - cw) * t.cx),
    top = y0 + Math.round((inner.h - ch) * t.cy);
  let p = raw(cur).extract({ left, top, width: cw, height: ch });
  if (t.flip) p = p.flop();
  if (t.brightness !== 1 || t.saturation !== 1) p = p.modulate({ brightness: t.brightness, saturation: t.saturation });
  if (t.contrast !== 1) p = p.linear(t.contrast, 128 * (1 - t.contrast));
  if (t.blurSigma >= 0.3) p = p.blur(t.blurSigma);
  if (t.noiseSigma) p = raw(addNoise(await toRGB(p), t.noiseSigma, seedOf(cw, ch, t.cx, t.noiseSigma)));
  if (t.downscaleTo && Math.min(cw, ch) > t.downscaleTo) {
    const k = t.downscaleTo / Math.min(cw, ch);
    p = p.resize(Math.max(1, Math.round(cw * k)), Math.max(1, Math.round(ch * k)), { fit: 'fill' });
  }
  // sharp allows one resize per pipeline, so the final resize starts a new one.
  const out = t.jpegQuality ? sharp(await p.jpeg({ quality: t.jpegQuality }).toBuffer()) : raw(await toRGB(p));
  const data = await out.resize(size, size, { fit: 'fill' }).removeAlpha().raw().toBuffer();
  return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
}
