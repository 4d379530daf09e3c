// Feature extraction for training and evaluation: each image × view × backbone
// is looked up in the cache first; only misses are decoded and embedded.
import crypto from 'node:crypto';
import fs from 'node:fs/promises';
import {
  applyTransform,
  AUGMENT_LEVELS,
  rng,
  samplePerturbation,
  sampleTransform,
  seedOf,
  type AugmentLevel,
} from '../classifier/augment.ts';
import { cropInputs, type CropName } from '../classifier/crops.ts';
import type { Embedder } from '../classifier/embedder.ts';
import { pickScene, sceneInput } from '../classifier/scenes.ts';
import { decodeUpright, ImageError, prepareImage, type RGBImage } from '../classifier/images.ts';
import type { FeatureCache } from './featureCache.ts';
import type { Sample } from './dataset.ts';

/** Bump when the view recipes change so old cached views are not reused. */
const RECIPE = 'r1';

/**
 * Augmented views of one kind; 'perturb' draws the harsher conditions of
 * evaluate --perturb, 'scene' a photo as people post them (classifier/scenes.ts),
 * 'whole' is the whole photo letterboxed as the bot's 'whole' answer crop
 * shows it (one view: nothing is drawn), so the head knows that crop too.
 */
export type ViewLevel = AugmentLevel | 'perturb' | 'scene' | 'whole';
export const TRAINING_LEVELS: readonly ViewLevel[] = [...AUGMENT_LEVELS, 'scene', 'whole'];

export interface ViewSet {
  level: ViewLevel;
  views: number;
  /** Index of the first view (default 0), to take views of a set one at a time. */
  from?: number;
}

export interface ViewPlan {
  /** Keep the centre view (always true for valid/test). */
  centre: boolean;
  seed: number;
  /** Augmented views per image in addition to the centre view. */
  aug: ViewSet[];
  /** Answer-time crops besides the centre one (classifier/crops.ts), after the augmented views. */
  crops?: CropName[];
}

/** The views the bot looks at when it answers with `crops`, in that order. */
export function cropPlan(crops: readonly CropName[]): ViewPlan {
  if (crops[0] !== 'centre' && crops.includes('centre')) throw new Error('the centre crop comes first');
  return { centre: crops.includes('centre'), seed: 0, aug: [], crops: crops.filter((c) => c !== 'centre') };
}

export const CENTRE_ONLY: ViewPlan = { centre: true, seed: 0, aug: [] };

/**
 * The training views from --aug-level / --aug-views: one level ("robust",
 * with `views` of it) or a mix with counts ("robust:2,phone:3"). Zero views
 * means centre views only, whatever the level says.
 */
export function parseAugmentation(level: string, views: number): ViewSet[] {
  const sets = level.includes(':')
    ? level.split(',').map((part) => {
        const [name = '', n = ''] = part.split(':').map((x) => x.trim());
        return { level: name, views: Number(n) };
      })
    : [{ level: level.trim(), views }];
  for (const s of sets) {
    if (!(TRAINING_LEVELS as readonly string[]).includes(s.level))
      throw new Error(`unknown augmentation level "${s.level}" (use ${TRAINING_LEVELS.join(', ')}, or a mix such as robust:2,phone:3)`);
    if (!Number.isInteger(s.views) || s.views < 0) throw new Error(`"${s.level}" needs a whole number of views, got ${s.views}`);
    if (s.level === 'whole' && s.views > 1) throw new Error('"whole" has one view (the whole photo): use whole:1');
  }
  return views === 0 ? [] : (sets.filter((s) => s.views > 0) as ViewSet[]);
}

/** One view of a photo: the centre crop, augmented view `index` of a set, or an answer-time crop. `key` names it in the feature cache. */
type View =
  | { key: string; kind: 'centre' }
  | { key: string; kind: 'aug'; level: ViewLevel; index: number }
  | { key: string; kind: 'crop'; crop: CropName };

function planViews(plan: ViewPlan): View[] {
  const views: View[] = plan.centre ? [{ key: 'centre', kind: 'centre' }] : [];
  for (const set of plan.aug) {
    for (let i = set.from ?? 0; i < (set.from ?? 0) + set.views; i++)
      views.push({ key: `aug-${set.level}-${RECIPE}-s${plan.seed}-v${i}`, kind: 'aug', level: set.level, index: i });
  }
  for (const crop of plan.crops ?? []) views.push({ key: `crop-${crop}-c1`, kind: 'crop', crop });
  return views;
}

export function viewKeys(plan: ViewPlan): string[] {
  return planViews(plan).map((view) => view.key);
}

export interface ExtractedSample {
  sample: Sample;
  sha256: string;
  /** One vector per view key, concatenated over the backbones. */
  views: Float32Array[];
}

export interface ExtractResult {
  items: ExtractedSample[];
  skipped: { path: string; reason: string }[];
  extracted: number;
  cached: number;
}

export interface ExtractOptions {
  embedder: Embedder;
  cache?: FeatureCache;
  plan: ViewPlan;
  batchSize?: number;
  onProgress?: (done: number, total: number) => void;
  /**
   * Where an ensemble's cached rows go (samples × summed feature size). Reused
   * across calls by a caller that copies each result before the next call:
   * rows read from the cache are valid only until then.
   */
  rowBuffer?: Float32Array;
  /** Content hashes by file path, filled and reused across calls (a file is then read once per run, not once per view). */
  hashes?: Map<string, string>;
}

async function renderView(
  buf: Buffer,
  sha: string,
  view: View,
  seed: number,
  size: number,
  upright: () => Promise<RGBImage>,
  sameSpecies: (r: () => number) => Promise<RGBImage>,
): Promise<Uint8Array> {
  if (view.kind === 'centre') return prepareImage(buf, { size });
  if (view.kind === 'crop' || view.level === 'whole')
    return (await cropInputs(buf, [view.kind === 'crop' ? view.crop : 'whole'], size))[0]!;
  const r = rng(seedOf(sha, view.level, seed, view.index));
  if (view.level === 'scene') return sceneInput(pickScene(r), r, { photo: await upright(), sameSpecies }, size);
  return applyTransform(await upright(), view.level === 'perturb' ? samplePerturbation(r) : sampleTransform(r, view.level), size);
}

/**
 * An ensemble's rows for one view, straight from the cache files: each file is
 * streamed into the concatenated rows, never held whole, so memory is the rows
 * alone (loading every file whole left up to a second copy of the features
 * waiting for the garbage collector). Rows missing a backbone are left out.
 */
function prefillRows(
  cache: FeatureCache,
  key: string,
  ids: string[],
  dims: number[],
  shas: string[],
  dropped: Set<number>,
  reuse?: Float32Array,
): Map<number, Float32Array> {
  const total = dims.reduce((a, b) => a + b, 0);
  const want = new Map<string, number[]>();
  shas.forEach((sha, i) => {
    if (sha && !dropped.has(i)) want.set(sha, [...(want.get(sha) ?? []), i]);
  });
  const rows = new Map<number, Float32Array>();
  const found = new Map<number, number>();
  // One block for the view (or the caller's, reused view after view), where
  // thousands of small allocations would linger until the garbage collector runs.
  const slab = reuse && reuse.length >= shas.length * total ? reuse : new Float32Array(shas.length * total);
  let off = 0;
  ids.forEach((id, b) => {
    cache.scan(id, key, dims[b]!, (sha, vec) => {
      for (const i of want.get(sha) ?? []) {
        if ((found.get(i) ?? 0) !== b) continue; // every earlier backbone must have matched
        let row = rows.get(i);
        if (!row) rows.set(i, (row = slab.subarray(i * total, (i + 1) * total)));
        row.set(vec, off);
        found.set(i, b + 1);
      }
    });
    off += dims[b]!;
  });
  for (const [i, n] of found) if (n < ids.length) rows.delete(i);
  return rows;
}

/** One extractFeatures call: its photos (by index in `samples`), their hashes, and what it found so far. */
interface Extraction {
  samples: Sample[];
  embedder: Embedder;
  cache?: FeatureCache;
  /** Feature size of each backbone, and of their concatenation. */
  dims: number[];
  total: number;
  /** Content hash of each photo, by index (a hole where the file could not be read). */
  shas: string[];
  /** Photos left out (unreadable): reported once, never embedded again. */
  dropped: Set<number>;
  result: ExtractResult;
  /** Photo indices by label, for scene views' companions (built on first use). */
  byLabel?: Map<string, number[]>;
}

/**
 * Another photo of photo i's species, drawn with r: a scene's companion. Drawn
 * from the species' own photos only, so a view is the same whichever other
 * species a run includes (and its cached features stay valid).
 */
async function sameSpecies(x: Extraction, i: number, r: () => number): Promise<RGBImage> {
  if (!x.byLabel) {
    x.byLabel = new Map();
    x.samples.forEach((s, k) => x.byLabel!.set(s.label, [...(x.byLabel!.get(s.label) ?? []), k]));
  }
  const others = x.byLabel.get(x.samples[i]!.label)!.filter((k) => k !== i);
  const k = others.length ? others[Math.floor(r() * others.length)]! : i;
  return decodeUpright(await fs.readFile(x.samples[k]!.path), undefined, 512);
}

/** One vector per backbone for a photo's view; undefined where the cache has none yet. */
type BackboneVectors = (Float32Array | undefined)[];

/** Photos that miss the same backbones: embedded together, by those backbones only. */
interface EmbedGroup {
  backbones: number[];
  photos: number[];
}

function skipPhoto(x: Extraction, i: number, reason: string): void {
  if (!x.dropped.has(i)) x.result.skipped.push({ path: x.samples[i]!.path, reason });
  x.dropped.add(i);
}

/** Content hashes first (reusing known ones); files are read again only where a view misses the cache. */
async function hashPhotos(x: Extraction, batch: number, known?: Map<string, string>): Promise<void> {
  for (let start = 0; start < x.samples.length; start += batch) {
    await Promise.all(
      x.samples.slice(start, start + batch).map(async (sample, j) => {
        try {
          const sha = known?.get(sample.path);
          x.shas[start + j] =
            sha ??
            crypto
              .createHash('sha256')
              .update(await fs.readFile(sample.path))
              .digest('hex');
          if (!sha) known?.set(sample.path, x.shas[start + j]!);
        } catch (err) {
          skipPhoto(x, start + j, (err as Error).message);
        }
      }),
    );
  }
}

/** Takes the batch's prefilled rows into `out`; returns the photos still to look up per backbone. */
function takePrefilled(x: Extraction, photos: number[], prefilled: Map<number, Float32Array>, out: Float32Array[]): number[] {
  const rest: number[] = [];
  for (const i of photos) {
    if (x.dropped.has(i)) continue;
    const row = prefilled.get(i);
    if (!row) rest.push(i);
    else {
      out[i] = row;
      x.result.cached++;
    }
  }
  return rest;
}

/** Renders the view of each photo that misses the cache (decoding the file again); unreadable ones are skipped. */
async function renderMissing(x: Extraction, view: View, seed: number, photos: number[]): Promise<Map<number, Uint8Array>> {
  const inputs = new Map<number, Uint8Array>();
  await Promise.all(
    photos.map(async (i) => {
      try {
        const buf = await fs.readFile(x.samples[i]!.path);
        let upright: Promise<RGBImage> | undefined;
        inputs.set(
          i,
          await renderView(
            buf,
            x.shas[i]!,
            view,
            seed,
            x.embedder.inputSize,
            () => (upright ??= decodeUpright(buf, undefined, 512)),
            (r) => sameSpecies(x, i, r),
          ),
        );
      } catch (err) {
        skipPhoto(x, i, err instanceof ImageError ? `${err.code}: ${err.cause ?? err.message}` : (err as Error).message);
      }
    }),
  );
  return inputs;
}

/** Groups photos by the backbones they miss, in order of first appearance. */
function groupByMissingBackbones(photos: number[], vectors: Map<number, BackboneVectors>): EmbedGroup[] {
  const groups: EmbedGroup[] = [];
  for (const i of photos) {
    const backbones = vectors.get(i)!.flatMap((v, b) => (v ? [] : [b]));
    const same = groups.find((g) => g.backbones.length === backbones.length && g.backbones.every((b, k) => b === backbones[k]));
    if (same) same.photos.push(i);
    else groups.push({ backbones, photos: [i] });
  }
  return groups;
}

/** Embeds a group by its missing backbones; each backbone's part goes into the photos' vectors and the cache. */
async function embedGroup(
  x: Extraction,
  view: View,
  group: EmbedGroup,
  inputs: Map<number, Uint8Array>,
  vectors: Map<number, BackboneVectors>,
): Promise<void> {
  const { backbones, photos } = group;
  const embedded = await x.embedder.embed(
    photos.map((i) => inputs.get(i)!),
    backbones,
  );
  let off = 0;
  for (const b of backbones) {
    const dim = x.dims[b]!;
    const entries = photos.map((i, m) => ({ sha256: x.shas[i]!, vector: embedded[m]!.slice(off, off + dim) }));
    entries.forEach((e, m) => (vectors.get(photos[m]!)![b] = e.vector));
    x.cache?.put(x.embedder.specs[b]!.id, view.key, dim, entries);
    off += dim;
  }
  x.result.extracted += photos.length;
}

/** A photo's row: the backbones' vectors concatenated (one backbone: its cached vector, shared, no copy). */
function joinBackbones(vectors: BackboneVectors, dims: number[], total: number): Float32Array {
  if (vectors.length === 1) return vectors[0]!;
  const row = new Float32Array(total);
  let off = 0;
  vectors.forEach((v, b) => {
    row.set(v!, off);
    off += dims[b]!;
  });
  return row;
}

/** A batch looked up in the cache, with its misses decoded and rendered, waiting for the backbones. */
interface PreparedBatch {
  lookup: number[];
  vectors: Map<number, BackboneVectors>;
  missing: number[];
  inputs: Map<number, Uint8Array>;
}

/** First half of a batch: cached rows, then per-backbone cache hits, then the misses rendered (no backbone work). */
async function prepareBatch(
  x: Extraction,
  view: View,
  seed: number,
  photos: number[],
  prefilled: Map<number, Float32Array>,
  out: Float32Array[],
): Promise<PreparedBatch> {
  const lookup = takePrefilled(x, photos, prefilled, out);
  const vectors = new Map(
    lookup.map((i): [number, BackboneVectors] => [i, x.embedder.specs.map((s, b) => x.cache?.get(s.id, view.key, x.shas[i]!, x.dims[b]!))]),
  );
  const missing = lookup.filter((i) => vectors.get(i)!.some((v) => !v));
  x.result.cached += lookup.length - missing.length;
  return { lookup, vectors, missing, inputs: await renderMissing(x, view, seed, missing) };
}

/** Second half: the misses through the backbones they lack, then every row joined into `out`. */
async function embedBatch(x: Extraction, view: View, b: PreparedBatch, out: Float32Array[]): Promise<void> {
  for (const group of groupByMissingBackbones(
    b.missing.filter((i) => b.inputs.has(i)),
    b.vectors,
  ))
    await embedGroup(x, view, group, b.inputs, b.vectors);
  for (const i of b.lookup) if (!x.dropped.has(i)) out[i] = joinBackbones(b.vectors.get(i)!, x.dims, x.total);
}

export async function extractFeatures(samples: Sample[], opts: ExtractOptions): Promise<ExtractResult> {
  const { embedder, cache, plan } = opts;
  const dims = embedder.specs.map((s) => s.featureSize);
  const x: Extraction = {
    samples,
    embedder,
    cache,
    dims,
    total: dims.reduce((a, b) => a + b, 0),
    shas: [],
    dropped: new Set(),
    result: { items: [], skipped: [], extracted: 0, cached: 0 },
  };
  const batch = opts.batchSize ?? 16;
  await hashPhotos(x, batch, opts.hashes);

  // One view at a time, so an ensemble holds one view's per-backbone cache
  // files while it copies them into concatenated rows, not all of them.
  const views = planViews(plan);
  const rows: Float32Array[][] = views.map(() => []);
  const ensemble = embedder.specs.length > 1;
  for (const [v, view] of views.entries()) {
    const prefilled =
      ensemble && cache
        ? prefillRows(
            cache,
            view.key,
            embedder.specs.map((s) => s.id),
            dims,
            x.shas,
            x.dropped,
            opts.rowBuffer,
          )
        : new Map<number, Float32Array>();
    // The next batch is read, decoded and augmented while the backbones work on this one,
    // so the workers do not wait for the decoder between batches.
    const prepare = (start: number) =>
      prepareBatch(
        x,
        view,
        plan.seed,
        Array.from({ length: Math.min(start + batch, samples.length) - start }, (_, k) => start + k),
        prefilled,
        rows[v]!,
      );
    let next = samples.length > 0 ? prepare(0) : undefined;
    for (let start = 0; next; start += batch) {
      const current = await next;
      const end = Math.min(start + batch, samples.length);
      next = end < samples.length ? prepare(end) : undefined;
      // A failed embed must not leave the prefetched batch's rejection unobserved.
      await embedBatch(x, view, current, rows[v]!).catch(async (err: unknown) => {
        await next?.catch(() => undefined);
        throw err;
      });
      opts.onProgress?.(v * samples.length + end, samples.length * views.length);
    }
    if (ensemble) cache?.forgetView(view.key);
  }
  samples.forEach((sample, i) => {
    if (!x.dropped.has(i)) x.result.items.push({ sample, sha256: x.shas[i]!, views: views.map((_, v) => rows[v]![i]!) });
  });
  return x.result;
}
