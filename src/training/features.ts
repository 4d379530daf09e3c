// Feature extraction for training and evaluation: each image × view × backbone
// is looked up in the cache first; only misses are decoded and embedded.
import crypto from 'node:crypto';
import fs from 'node:fs/promises';
import { applyTransform, rng, samplePerturbation, sampleTransform, seedOf, type AugmentLevel } from '../classifier/augment.ts';
import type { Embedder } from '../classifier/embedder.ts';
import { decodeUpright, ImageError, prepareImage, type RGBImage } from '../classifier/images.ts';
import type { FeatureCache } from './featureCache.ts';
import type { Sample } from './dataset.ts';

/** Bump when the view recipes change so old cached views are not reused. */
const RECIPE = 'r1';

export interface ViewPlan {
  /** Number of augmented views per image in addition to the centre view. */
  augViews: number;
  /** 'perturb' draws the harsher phone-like conditions used by evaluate --perturb. */
  level: AugmentLevel | 'perturb';
  seed: number;
  /** Keep the centre view (always true for valid/test). */
  centre: boolean;
}

export const CENTRE_ONLY: ViewPlan = { augViews: 0, level: 'basic', seed: 0, centre: true };

export function viewKeys(plan: ViewPlan): string[] {
  const keys = plan.centre ? ['centre'] : [];
  for (let i = 0; i < plan.augViews; i++) keys.push(`aug-${plan.level}-${RECIPE}-s${plan.seed}-v${i}`);
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
}

async function renderView(buf: Buffer, sha: string, key: string, plan: ViewPlan, size: number, upright: () => Promise<RGBImage>): Promise<Uint8Array> {
  if (key === 'centre') return prepareImage(buf, { size });
  const i = Number(key.slice(key.lastIndexOf('v') + 1));
  const r = rng(seedOf(sha, plan.level, plan.seed, i));
  return applyTransform(await upright(), plan.level === 'perturb' ? samplePerturbation(r) : sampleTransform(r, plan.level), size);
}

export async function extractFeatures(samples: Sample[], opts: ExtractOptions): Promise<ExtractResult> {
  const { embedder, cache, plan } = opts;
  const keys = viewKeys(plan);
  const specs = embedder.specs;
  const dims = specs.map((s) => s.featureSize);
  const total = dims.reduce((a, b) => a + b, 0);
  const batch = opts.batchSize ?? 16;
  const result: ExtractResult = { items: [], skipped: [], extracted: 0, cached: 0 };

  for (let start = 0; start < samples.length; start += batch) {
    const chunk = samples.slice(start, start + batch);
    // Read, hash and look up; collect the (sample, view) pairs that miss a backbone.
    const loaded = await Promise.all(chunk.map(async (sample) => {
      try {
        const buf = await fs.readFile(sample.path);
        return { sample, buf, sha: crypto.createHash('sha256').update(buf).digest('hex') };
      } catch (err) {
        result.skipped.push({ path: sample.path, reason: (err as Error).message });
        return null;
      }
    }));
    type Job = { item: number; view: number; missing: number[]; input?: Uint8Array };
    const items: { sample: Sample; buf: Buffer; sha: string; parts: (Float32Array | undefined)[][] }[] = [];
    const jobs: Job[] = [];
    for (const l of loaded) {
      if (!l) continue;
      const parts = keys.map((k) => specs.map((s, b) => cache?.get(s.id, k, l.sha, dims[b]!)));
      parts.forEach((p, v) => {
        const missing = p.flatMap((x, b) => (x ? [] : [b]));
        if (missing.length) jobs.push({ item: items.length, view: v, missing });
        else result.cached++;
      });
      items.push({ ...l, parts });
    }
    // Decode the views that are needed, once per image.
    const failed = new Set<number>();
    const uprights = new Map<number, Promise<RGBImage>>();
    await Promise.all(jobs.map(async (job) => {
      const it = items[job.item]!;
      const upright = () => {
        if (!uprights.has(job.item)) uprights.set(job.item, decodeUpright(it.buf, undefined, 512));
        return uprights.get(job.item)!;
      };
      try {
        job.input = await renderView(it.buf, it.sha, keys[job.view]!, plan, embedder.inputSize, upright);
      } catch (err) {
        if (!failed.has(job.item)) {
          failed.add(job.item);
          result.skipped.push({ path: it.sample.path, reason: err instanceof ImageError ? `${err.code}: ${err.cause ?? err.message}` : (err as Error).message });
        }
      }
    }));
    // Embed per set of missing backbones (usually all of them, or none).
    const groups = new Map<string, Job[]>();
    for (const j of jobs) {
      if (!j.input || failed.has(j.item)) continue;
      const g = j.missing.join(',');
      groups.set(g, [...(groups.get(g) ?? []), j]);
    }
    for (const group of groups.values()) {
      const which = group[0]!.missing;
      const vecs = await opts.embedder.embed(group.map((j) => j.input!), which);
      const puts = new Map<string, { sha256: string; vector: Float32Array }[]>();
      group.forEach((j, gi) => {
        let off = 0;
        for (const b of which) {
          const v = vecs[gi]!.slice(off, off + dims[b]!);
          off += dims[b]!;
          items[j.item]!.parts[j.view]![b] = v;
          const k = `${b}|${j.view}`;
          puts.set(k, [...(puts.get(k) ?? []), { sha256: items[j.item]!.sha, vector: v }]);
        }
        result.extracted++;
      });
      for (const [k, entries] of puts) {
        const [b, v] = k.split('|').map(Number) as [number, number];
        cache?.put(specs[b]!.id, keys[v]!, dims[b]!, entries);
      }
    }
    items.forEach((it, i) => {
      if (failed.has(i)) return;
      const views = it.parts.map((p) => {
        if (p.length === 1) return p[0]!; // one backbone: share the cached vector, no copy
        const out = new Float32Array(total);
        let off = 0;
        p.forEach((x, b) => { out.set(x!, off); off += dims[b]!; });
        return out;
      });
      result.items.push({ sample: it.sample, sha256: it.sha, views });
    });
    opts.onProgress?.(Math.min(start + batch, samples.length), samples.length);
  }
  return result;
}
