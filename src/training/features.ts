// Feature extraction for training and evaluation: each image × view × backbone
// is looked up in the cache first; only misses are decoded and embedded.
import crypto from 'node:crypto';
import fs from 'node:fs/promises';
import { applyTransform, AUGMENT_LEVELS, rng, samplePerturbation, sampleTransform, seedOf, type AugmentLevel } from '../classifier/augment.ts';
import type { Embedder } from '../classifier/embedder.ts';
import { decodeUpright, ImageError, prepareImage, type RGBImage } from '../classifier/images.ts';
import type { FeatureCache } from './featureCache.ts';
import type { Sample } from './dataset.ts';

/** Bump when the view recipes change so old cached views are not reused. */
const RECIPE = 'r1';

/** Augmented views of one kind; 'perturb' draws the harsher conditions of evaluate --perturb. */
export interface ViewSet {
  level: AugmentLevel | 'perturb';
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
    if (!(AUGMENT_LEVELS as readonly string[]).includes(s.level)) throw new Error(`unknown augmentation level "${s.level}" (use ${AUGMENT_LEVELS.join(', ')}, or a mix such as robust:2,phone:3)`);
    if (!Number.isInteger(s.views) || s.views < 0) throw new Error(`"${s.level}" needs a whole number of views, got ${s.views}`);
  }
  return views === 0 ? [] : (sets.filter((s) => s.views > 0) as ViewSet[]);
}

export function viewKeys(plan: ViewPlan): string[] {
  const keys = plan.centre ? ['centre'] : [];
  for (const set of plan.aug) for (let i = set.from ?? 0; i < (set.from ?? 0) + set.views; i++) keys.push(`aug-${set.level}-${RECIPE}-s${plan.seed}-v${i}`);
  return keys;
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

async function renderView(buf: Buffer, sha: string, key: string, plan: ViewPlan, size: number, upright: () => Promise<RGBImage>): Promise<Uint8Array> {
  if (key === 'centre') return prepareImage(buf, { size });
  const level = key.split('-')[1] as ViewSet['level'];
  const i = Number(key.slice(key.lastIndexOf('v') + 1));
  const r = rng(seedOf(sha, level, plan.seed, i));
  return applyTransform(await upright(), level === 'perturb' ? samplePerturbation(r) : sampleTransform(r, level), size);
}

/**
 * An ensemble's rows for one view, straight from the cache files: each file is
 * streamed into the concatenated rows, never held whole, so memory is the rows
 * alone (loading every file whole left up to a second copy of the features
 * waiting for the garbage collector). Rows missing a backbone are left out.
 */
function prefillRows(cache: FeatureCache, key: string, ids: string[], dims: number[], shas: string[], dropped: Set<number>, reuse?: Float32Array): Map<number, Float32Array> {
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

export async function extractFeatures(samples: Sample[], opts: ExtractOptions): Promise<ExtractResult> {
  const { embedder, cache, plan } = opts;
  const keys = viewKeys(plan);
  const specs = embedder.specs;
  const dims = specs.map((s) => s.featureSize);
  const total = dims.reduce((a, b) => a + b, 0);
  const batch = opts.batchSize ?? 16;
  const result: ExtractResult = { items: [], skipped: [], extracted: 0, cached: 0 };
  const dropped = new Set<number>();
  const skip = (i: number, reason: string) => {
    if (!dropped.has(i)) result.skipped.push({ path: samples[i]!.path, reason });
    dropped.add(i);
  };

  // Content hashes first; files are read again only where a view misses the cache.
  const shas: string[] = [];
  for (let start = 0; start < samples.length; start += batch) {
    await Promise.all(samples.slice(start, start + batch).map(async (sample, j) => {
      try {
        const known = opts.hashes?.get(sample.path);
        shas[start + j] = known ?? crypto.createHash('sha256').update(await fs.readFile(sample.path)).digest('hex');
        if (!known) opts.hashes?.set(sample.path, shas[start + j]!);
      } catch (err) {
        skip(start + j, (err as Error).message);
      }
    }));
  }

  // One view at a time, so an ensemble holds one view's per-backbone cache
  // files while it copies them into concatenated rows, not all of them.
  const rows: Float32Array[][] = keys.map(() => []);
  const units = samples.length * keys.length;
  for (const [v, key] of keys.entries()) {
    const prefilled = specs.length > 1 && cache ? prefillRows(cache, key, specs.map((s) => s.id), dims, shas, dropped, opts.rowBuffer) : new Map<number, Float32Array>();
    for (let start = 0; start < samples.length; start += batch) {
      const idx: number[] = [];
      for (let i = start; i < Math.min(start + batch, samples.length); i++) {
        if (dropped.has(i)) continue;
        const row = prefilled.get(i);
        if (!row) idx.push(i);
        else {
          rows[v]![i] = row;
          result.cached++;
        }
      }
      const parts = new Map(idx.map((i) => [i, specs.map((s, b) => cache?.get(s.id, key, shas[i]!, dims[b]!))]));
      const jobs = idx.filter((i) => parts.get(i)!.some((x) => !x));
      result.cached += idx.length - jobs.length;
      // Render the missing views (decoding the file again), then embed them per set of missing backbones.
      const inputs = new Map<number, Uint8Array>();
      await Promise.all(jobs.map(async (i) => {
        try {
          const buf = await fs.readFile(samples[i]!.path);
          let upright: Promise<RGBImage> | undefined;
          inputs.set(i, await renderView(buf, shas[i]!, key, plan, embedder.inputSize, () => (upright ??= decodeUpright(buf, undefined, 512))));
        } catch (err) {
          skip(i, err instanceof ImageError ? `${err.code}: ${err.cause ?? err.message}` : (err as Error).message);
        }
      }));
      const groups = new Map<string, number[]>();
      for (const i of jobs) {
        if (!inputs.has(i)) continue;
        const g = parts.get(i)!.flatMap((x, b) => (x ? [] : [b])).join(',');
        groups.set(g, [...(groups.get(g) ?? []), i]);
      }
      for (const [g, members] of groups) {
        const which = g.split(',').map(Number);
        const vecs = await embedder.embed(members.map((i) => inputs.get(i)!), which);
        which.forEach((b, w) => {
          const off = which.slice(0, w).reduce((a, x) => a + dims[x]!, 0);
          const entries = members.map((i, m) => ({ sha256: shas[i]!, vector: vecs[m]!.slice(off, off + dims[b]!) }));
          entries.forEach((e, m) => (parts.get(members[m]!)![b] = e.vector));
          cache?.put(specs[b]!.id, key, dims[b]!, entries);
        });
        result.extracted += members.length;
      }
      for (const i of idx) {
        if (dropped.has(i)) continue;
        const p = parts.get(i)!;
        if (p.length === 1) {
          rows[v]![i] = p[0]!; // one backbone: share the cached vector, no copy
          continue;
        }
        const out = new Float32Array(total);
        let off = 0;
        p.forEach((x, b) => { out.set(x!, off); off += dims[b]!; });
        rows[v]![i] = out;
      }
      opts.onProgress?.(v * samples.length + Math.min(start + batch, samples.length), units);
    }
    if (specs.length > 1) cache?.forgetView(key);
  }
  samples.forEach((sample, i) => {
    if (!dropped.has(i)) result.items.push({ sample, sha256: shas[i]!, views: keys.map((_, v) => rows[v]![i]!) });
  });
  return result;
}
