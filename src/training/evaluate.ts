// Accuracy of a checkpoint on a split: top-1, top-5, per class, speed, and
// optionally the same under seeded phone-like perturbations.
import { rng, samplePerturbation, seedOf, applyTransform } from '../classifier/augment.ts';
import type { Classifier } from '../classifier/classifier.ts';
import { decodeUpright, type RGBImage } from '../classifier/images.ts';
import type { AnswerKind } from '../classifier/answers.ts';
import { meanProbs } from '../classifier/ranking.ts';
import type { Sample } from './dataset.ts';
import type { FeatureCache } from './featureCache.ts';
import { extractFeatures } from './features.ts';
import { photoFeatures } from './photoFeatures.ts';
import { compareOnPhotos, type OpenSetScore } from './openSet.ts';
import crypto from 'node:crypto';
import fs from 'node:fs/promises';

export interface Scores {
  top1: number;
  top5: number;
  images: number;
}

export interface ClassScore {
  label: string;
  name: string;
  images: number;
  accuracy: number;
}

export interface EvalReport {
  clean: Scores;
  perturbed?: Scores;
  perClass: ClassScore[];
  /** How the bot would answer the split's photos, and the --unknown and --not-flowers photos. */
  answers?: AnswersReport;
  /** --open-set: each candidate signal for telling the split's photos from the --unknown ones. */
  openSet?: OpenSetScore[];
  msPerImage: number;
  tta: boolean;
  skipped: { path: string; reason: string }[];
}

/** Shares of a set's photos answered each way, exactly as the bot answers them (centre view). */
export interface AnswerShares {
  images: number;
  species: number;
  /** Known species only: answered with a species, and the right one (over all the set's photos). */
  speciesCorrect?: number;
  notSure: number;
  notFlower: number;
}

export interface AnswersReport {
  known: AnswerShares & { speciesCorrect: number };
  unknown?: AnswerShares;
  notFlowers?: AnswerShares;
}

/** The bot's answer for each photo (its answer crops, as the bot sends it without TTA) and its best label. */
export async function answerPhotos(
  clf: Classifier,
  samples: Sample[],
  fallbackThreshold: number,
  cache?: FeatureCache,
  onProgress?: (done: number, total: number) => void,
) {
  const r = await photoFeatures(clf, samples, cache, clf.answerViews, onProgress);
  const rows = r.photos.map(({ sample, features }) => {
    const s = clf.signals(features);
    const kind: AnswerKind = clf.answer(s, fallbackThreshold).kind;
    return { sample, kind, best: clf.rank(s.probs, 1)[0]!.label };
  });
  return { rows, skipped: r.skipped };
}

export function answerShares(rows: { sample: Sample; kind: AnswerKind; best: string }[], known: boolean): AnswerShares {
  const n = rows.length;
  const share = (k: AnswerKind) => (n ? rows.filter((r) => r.kind === k).length / n : 0);
  const out: AnswerShares = { images: n, species: share('species'), notSure: share('notSure'), notFlower: share('notFlower') };
  if (known) out.speciesCorrect = n ? rows.filter((r) => r.kind === 'species' && r.best === r.sample.label).length / n : 0;
  return out;
}

export interface EvalOptions {
  classifier: Classifier;
  samples: Sample[];
  cache?: FeatureCache;
  perturb?: boolean;
  tta?: boolean;
  seed?: number;
  /** Photos timed end to end (decode + model), one at a time. */
  timed?: number;
  /** The bot's species threshold when the checkpoint has none (BLOOM_CONFIDENCE_THRESHOLD); with it, the report has answers. */
  fallbackThreshold?: number;
  /** Photos of flower species the model does not know. */
  unknown?: Sample[];
  /** Photos that are not flowers. */
  notFlowers?: Sample[];
  /** With `unknown`: compare the signals that could tell them from the known species (openSet.ts). */
  openSet?: boolean;
  /** With `openSet`: the training photos, for heads trained apart on each backbone (ensembles). */
  openSetTrain?: Sample[];
  onProgress?: (label: string, done: number, total: number) => void;
}

type Scored = { label: string; probs: Float32Array };

function score(rows: Scored[], labels: string[]): Scores & { hits: Map<string, [number, number]> } {
  let t1 = 0,
    t5 = 0;
  const hits = new Map<string, [number, number]>();
  for (const r of rows) {
    const want = labels.indexOf(r.label);
    const order = Array.from(r.probs.keys()).sort((a, b) => r.probs[b]! - r.probs[a]!);
    const h = hits.get(r.label) ?? [0, 0];
    h[1]++;
    if (order[0] === want) {
      t1++;
      h[0]++;
    }
    if (order.slice(0, 5).includes(want)) t5++;
    hits.set(r.label, h);
  }
  const n = Math.max(1, rows.length);
  return { top1: t1 / n, top5: t5 / n, images: rows.length, hits };
}

/** TTA needs the whole image, so it bypasses the feature cache. */
async function ttaRows(o: EvalOptions, perturb: boolean, label: string): Promise<{ rows: Scored[]; skipped: EvalReport['skipped'] }> {
  const rows: Scored[] = [],
    skipped: EvalReport['skipped'] = [];
  for (let i = 0; i < o.samples.length; i += 8) {
    const chunk = o.samples.slice(i, i + 8);
    const views = await Promise.all(
      chunk.map(async (s) => {
        try {
          const buf = await fs.readFile(s.path);
          let img: RGBImage = await decodeUpright(buf, undefined, 512);
          if (perturb) {
            const sha = crypto.createHash('sha256').update(buf).digest('hex');
            const t = samplePerturbation(rng(seedOf(sha, 'perturb', o.seed ?? 1, 0)));
            img = { data: Buffer.from(await applyTransform(img, t, 256)), width: 256, height: 256 };
          }
          return { s, v: await o.classifier.ttaViews(img) };
        } catch (err) {
          skipped.push({ path: s.path, reason: (err as Error).message });
          return null;
        }
      }),
    );
    const ok = views.filter((x) => x !== null);
    if (ok.length === 0) continue;
    const probs = o.classifier.probsOfFeatures(await o.classifier.embedder.embed(ok.flatMap((x) => x.v)));
    let at = 0;
    for (const x of ok) rows.push({ label: x.s.label, probs: meanProbs(probs.slice(at, (at += x.v.length))) });
    o.onProgress?.(label, Math.min(i + 8, o.samples.length), o.samples.length);
  }
  return { rows, skipped };
}

/** Clean photos through the model's answer crops; perturbed ones (rendered in memory) through the centre view. */
async function cachedRows(o: EvalOptions, perturb: boolean, label: string) {
  if (!perturb) {
    const clf = o.classifier;
    const r = await photoFeatures(clf, o.samples, o.cache, clf.answerViews, (d, t) => o.onProgress?.(label, d, t));
    const rows = r.photos.map(({ sample, features }) => ({
      label: sample.label,
      probs: clf.photoProbs(clf.probsOfFeatures(features)),
    }));
    return { rows, skipped: r.skipped };
  }
  const plan = { centre: false, seed: o.seed ?? 1, aug: [{ level: 'perturb' as const, views: 1 }] };
  const r = await extractFeatures(o.samples, {
    embedder: o.classifier.embedder,
    cache: o.cache,
    plan,
    onProgress: (d, t) => o.onProgress?.(label, d, t),
  });
  const probs = r.items.length ? o.classifier.probsOfFeatures(r.items.map((it) => it.views[0]!)) : [];
  return { rows: r.items.map((it, i) => ({ label: it.sample.label, probs: probs[i]! })), skipped: r.skipped };
}

export async function evaluate(o: EvalOptions): Promise<EvalReport> {
  const labels = o.classifier.meta.labels;
  const known = { ...o, samples: o.samples.filter((s) => labels.includes(s.label)) };
  const run = (perturb: boolean, label: string) => (o.tta ? ttaRows(known, perturb, label) : cachedRows(known, perturb, label));
  const clean = await run(false, 'Evaluating (clean)');
  const c = score(clean.rows, labels);
  const perClass = [...c.hits]
    .map(([label, [h, n]]) => ({ label, name: o.classifier.meta.names[label] ?? label, images: n, accuracy: h / n }))
    .sort((a, b) => a.accuracy - b.accuracy || a.label.localeCompare(b.label));
  let perturbed: Scores | undefined;
  if (o.perturb) {
    const p = await run(true, 'Evaluating (perturbed)');
    const s = score(p.rows, labels);
    perturbed = { top1: s.top1, top5: s.top5, images: s.images };
  }
  let answers: AnswersReport | undefined;
  if (o.fallbackThreshold !== undefined) {
    const t = o.fallbackThreshold;
    const progress = (label: string) => (d: number, n: number) => o.onProgress?.(label, d, n);
    const k = await answerPhotos(o.classifier, known.samples, t, o.cache, progress('Answers (split)'));
    answers = { known: answerShares(k.rows, true) as AnswersReport['known'] };
    if (o.unknown)
      answers.unknown = answerShares(
        (await answerPhotos(o.classifier, o.unknown, t, o.cache, progress('Answers (unknown species)'))).rows,
        false,
      );
    if (o.notFlowers)
      answers.notFlowers = answerShares(
        (await answerPhotos(o.classifier, o.notFlowers, t, o.cache, progress('Answers (not flowers)'))).rows,
        false,
      );
  }
  const openSet =
    o.openSet && o.unknown?.length
      ? await compareOnPhotos(o.classifier, known.samples, o.unknown, o.cache, o.onProgress, o.openSetTrain)
      : undefined;
  // Speed: whole path for a few photos, one at a time, as a user would send them.
  const timed = known.samples.slice(0, o.timed ?? 16);
  const t0 = performance.now();
  for (const s of timed) await o.classifier.classify(await fs.readFile(s.path), { tta: o.tta });
  const msPerImage = timed.length ? (performance.now() - t0) / timed.length : 0;
  return {
    clean: { top1: c.top1, top5: c.top5, images: c.images },
    perturbed,
    perClass,
    ...(answers && { answers }),
    ...(openSet && { openSet }),
    msPerImage,
    tta: !!o.tta,
    skipped: clean.skipped,
  };
}
