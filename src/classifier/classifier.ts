// The loaded model: backbone(s) + head, with a small API in the spirit of
// tfjs-models: classify(bytes) → top-k, plus batch and feature helpers.
import { readCentroids } from './centroids.ts';
import * as tf from './tf.ts';
import fs from 'node:fs';
import path from 'node:path';
import {
  calibrateProbs,
  decideAnswer,
  FALLBACK_SPECIES_THRESHOLD,
  featureOffsets,
  flowerLikeness,
  nearestSimilarity,
  type Answer,
  type AnswerKind,
} from './answers.ts';
import { splitArch } from './backbones.ts';
import { checkBackbones, loadCheckpoint, type CheckpointMeta } from './checkpoint.ts';
import type { Embedder } from './embedder.ts';
import type { BackboneLocations } from './featureExtractor.ts';
import { loadImagenetHeads, type ImagenetHead } from './imagenetHead.ts';
import { CENTRE_VIEW, combineCrops, cropInputs, type AnswerViews } from './crops.ts';
import { centreCrop, centredSquare, cropBox, decodeUpright, DEFAULT_MAX_PIXELS, outerSide, prepareImage, type RGBImage } from './images.ts';
import { makeEmbedder } from './makeEmbedder.ts';
import { SpreadDistance } from './spread.ts';
import { meanProbs, topK, type Prediction } from './ranking.ts';

export interface ClassifyOptions {
  topK?: number;
  /** Test-time augmentation: average over flip and a few crops. */
  tta?: boolean;
  maxPixels?: number;
  /** The species threshold when the checkpoint has none (BLOOM_CONFIDENCE_THRESHOLD; default FALLBACK_SPECIES_THRESHOLD). */
  fallbackThreshold?: number;
}

/** What the answer is decided from, for one photo: its views combined. */
export interface PhotoSignals {
  /** Calibrated probabilities over meta.labels. */
  probs: Float32Array;
  /** ImageNet flower-likeness and distance to the nearest species, averaged over the views (when the model has them). */
  likeness?: number;
  distance?: number;
}

const mean = (xs: (number | undefined)[]) =>
  xs.length && xs.every((x) => x !== undefined) ? xs.reduce((a, b) => a + b, 0) / xs.length : undefined;

export interface ClassifyResult {
  /** The best species, with calibrated probabilities (what the bot shows). */
  top: Prediction[];
  /** Full calibrated distribution over meta.labels (sums to 1). */
  probabilities: Float32Array;
  /** How the bot answers the photo: a species, "not sure" or "that doesn't look like a flower". */
  answer: AnswerKind;
  ms: number;
}

export interface LoadClassifierOptions extends BackboneLocations {
  checkpoint: string;
  /** Supply a shared embedder (e.g. a worker pool); else one is loaded in-process. */
  embedder?: Embedder;
  /** Whether dispose() also closes a supplied embedder (default: only one it loaded itself). */
  ownsEmbedder?: boolean;
}

/** The --arch string that reloads a checkpoint's backbones: preset names, or the custom source. */
export function archOf(meta: CheckpointMeta): string {
  return meta.backbones.map((b) => (b.id.startsWith('custom-') ? (b.source ?? b.id) : b.id)).join('+');
}

export class Classifier {
  private constructor(
    readonly meta: CheckpointMeta,
    readonly dir: string,
    private readonly head: tf.LayersModel,
    readonly embedder: Embedder,
    private readonly ownsEmbedder: boolean,
    /** The backbones' ImageNet heads (only read when the checkpoint has flower classes). */
    readonly imagenet: (ImagenetHead | undefined)[] = [],
    /** Species prototypes (meta.answers.centroids), when the checkpoint has them. */
    private readonly centroids?: Float32Array,
  ) {
    const spread = meta.answers?.spread;
    const sizes = meta.backbones.map((b) => b.featureSize);
    if (spread && centroids && sizes[spread.backbone]) this.spread = new SpreadDistance(spread, centroids, sizes);
  }

  private readonly spread?: SpreadDistance;

  static async load(opts: LoadClassifierOptions): Promise<Classifier> {
    const { dir, meta, head } = await loadCheckpoint(opts.checkpoint);
    let embedder = opts.embedder;
    const own = opts.ownsEmbedder ?? !embedder;
    try {
      embedder ??= await makeEmbedder({ arch: archOf(meta), loc: opts, workers: 0 });
      checkBackbones(meta, embedder.specs);
    } catch (err) {
      head.dispose();
      if (own) await embedder?.close();
      throw err;
    }
    const imagenet = meta.answers?.flowerClasses ? await loadImagenetHeads(splitArch(archOf(meta)), meta.backbones, opts) : [];
    const file = meta.answers?.centroids && path.join(dir, path.basename(meta.answers.centroids));
    const centroids = file && fs.existsSync(file) ? readCentroids(file) : undefined;
    return new Classifier(meta, dir, head, embedder, own, imagenet, centroids);
  }

  get version(): string {
    return this.meta.version;
  }

  get inputSize(): number {
    return this.embedder.inputSize;
  }

  /** Head on features → probability rows. */
  probsOfFeatures(features: Float32Array[]): Float32Array[] {
    const dim = features[0]!.length;
    const flat = new Float32Array(features.length * dim);
    features.forEach((f, i) => flat.set(f, i * dim));
    const p = tf.tidy(() => this.head.predict(tf.tensor2d(flat, [features.length, dim])) as tf.Tensor2D);
    const data = p.dataSync() as Float32Array;
    p.dispose();
    const n = this.meta.labels.length;
    return features.map((_, i) => data.slice(i * n, (i + 1) * n));
  }

  /** The head's probabilities with the checkpoint's calibration (unchanged without one). */
  calibrate(probs: Float32Array): Float32Array {
    return calibrateProbs(probs, this.meta.answers);
  }

  /** Flower-likeness of one view's features (ImageNet mass on the training photos' classes), when the checkpoint has it. */
  flowerLikeness(features: Float32Array): number | undefined {
    return flowerLikeness(
      features,
      this.imagenet,
      featureOffsets(this.meta.backbones.map((b) => b.featureSize)),
      this.meta.answers?.flowerClasses,
    );
  }

  /** Whether the checkpoint has species prototypes (and so a similarity to the species). */
  get hasPrototypes(): boolean {
    return this.centroids !== undefined;
  }

  /** Cosine similarity of one view's features to the nearest species prototype, when the checkpoint has them. */
  similarity(features: Float32Array): number | undefined {
    return this.centroids
      ? nearestSimilarity(
          features,
          this.centroids,
          this.meta.backbones.map((b) => b.featureSize),
        )
      : undefined;
  }

  /** Distance of one view's features to the nearest species prototype under the species' spread, when the checkpoint has them. */
  distance(features: Float32Array): number | undefined {
    return this.spread?.distance(features);
  }

  /** The kind of answer for a photo's signals (calibrated probabilities, flower-likeness, distance to the species). */
  answer(s: PhotoSignals, fallbackThreshold: number): Answer {
    let top1 = 0;
    for (const p of s.probs) top1 = Math.max(top1, p);
    return decideAnswer({ top1, flowerLikeness: s.likeness, distance: s.distance }, this.meta.answers, fallbackThreshold);
  }

  private viewsOverride?: AnswerViews;

  /** The crops the model answers from, and how they are combined (fitted with the answer settings). */
  get answerViews(): AnswerViews {
    return this.viewsOverride ?? this.meta.answers?.views ?? CENTRE_VIEW;
  }

  /** Answer from other crops than the fitted ones (evaluate --crops, to compare them; thresholds stay as fitted). */
  useAnswerViews(views: AnswerViews): void {
    this.viewsOverride = views;
  }

  /** The inputs for one photo: its answer crops (the centre crop unless the model says more), or the TTA set. */
  async views(bytes: Buffer, opts: ClassifyOptions & { decoded?: RGBImage } = {}): Promise<Uint8Array[]> {
    const maxPixels = opts.maxPixels ?? DEFAULT_MAX_PIXELS;
    if (opts.tta) return this.ttaViews(await decodeUpright(bytes, maxPixels, 4 * this.inputSize));
    const crops = this.answerViews.crops;
    if (crops.length > 1 || crops[0] !== 'centre') return cropInputs(bytes, crops, this.inputSize, maxPixels);
    // A copy the caller decoded at the right scale gives the same pixels without a second decode.
    const d = opts.decoded;
    if (d && Math.min(d.width, d.height) === outerSide(this.inputSize)) return [centreCrop(d, this.inputSize)];
    return [await prepareImage(bytes, { size: this.inputSize, maxPixels })];
  }

  /** One photo's head rows (one per view) as one row: combined as its answer views say, TTA views averaged. Not calibrated. */
  photoProbs(rows: Float32Array[], tta = false): Float32Array {
    return tta ? meanProbs(rows) : combineCrops(rows, this.answerViews.combine);
  }

  /** One photo's answer signals from its views' features (in views() order): photoProbs, calibrated, and the views' mean signals. */
  signals(features: Float32Array[], probs = this.probsOfFeatures(features), tta = false): PhotoSignals {
    return {
      probs: this.calibrate(this.photoProbs(probs, tta)),
      likeness: mean(features.map((f) => this.flowerLikeness(f))),
      distance: mean(features.map((f) => this.distance(f))),
    };
  }

  /** Test-time augmentation: centre crop, its mirror, the full square and a closer crop. */
  ttaViews(img: RGBImage): Promise<Uint8Array[]> {
    const size = this.inputSize;
    const box = (frac: number) => centredSquare(img, frac);
    return Promise.all([
      cropBox(img, box(0.875), size),
      cropBox(img, box(0.875), size, true),
      cropBox(img, box(1), size),
      cropBox(img, box(0.7), size),
    ]);
  }

  rank(probs: Float32Array, k = 5): Prediction[] {
    return topK(probs, this.meta.labels, this.meta.names, k);
  }

  async classify(bytes: Buffer, opts: ClassifyOptions = {}): Promise<ClassifyResult> {
    return (await this.classifyMany([bytes], opts))[0]!;
  }

  /** Several photos in one batch; each needs to decode, or the whole call throws that photo's error. */
  async classifyMany(photos: Buffer[], opts: ClassifyOptions = {}): Promise<ClassifyResult[]> {
    const t0 = performance.now();
    const views = await Promise.all(photos.map((b) => this.views(b, opts)));
    const feats = await this.embedder.embed(views.flat());
    const probs = this.probsOfFeatures(feats);
    let at = 0;
    // The bot's path (signals → answer), so the CLIs say what the bot would.
    const signals = views.map((v) => {
      const from = at;
      at += v.length;
      return this.signals(feats.slice(from, at), probs.slice(from, at), opts.tta);
    });
    const ms = performance.now() - t0;
    return signals.map((s) => ({
      top: this.rank(s.probs, opts.topK),
      probabilities: s.probs,
      answer: this.answer(s, opts.fallbackThreshold ?? FALLBACK_SPECIES_THRESHOLD).kind,
      ms,
    }));
  }

  async dispose(opts: { keepEmbedder?: boolean } = {}): Promise<void> {
    this.head.dispose();
    if (this.ownsEmbedder && !opts.keepEmbedder) await this.embedder.close();
  }
}
