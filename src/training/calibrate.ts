// Fits a checkpoint's answer settings (issue 12): temperature scaling on the
// valid photos, the ImageNet classes the training photos put their mass on,
// the "not a flower" threshold from the flower photos alone (a margin below
// the least flower-like of them), and the species threshold from photos of
// species the head never saw (a leave-species-out run), when given.
import { writeCentroids } from '../classifier/centroids.ts';
import fs from 'node:fs';
import path from 'node:path';
import {
  expectedCalibrationError,
  flowerLikeness,
  quantile,
  calibrateProbs,
  fitScaling,
  pickFlowerClasses,
  featureOffsets,
  speciesPrototypes,
  type AnswerSettings,
} from '../classifier/answers.ts';
import { splitArch } from '../classifier/backbones.ts';
import { readMeta } from '../classifier/checkpoint.ts';
import { archOf, Classifier } from '../classifier/classifier.ts';
import type { Embedder } from '../classifier/embedder.ts';
import type { BackboneLocations } from '../classifier/featureExtractor.ts';
import { imagenetProbs, loadImagenetHeads, type ImagenetHead } from '../classifier/imagenetHead.ts';
import type { Sample } from './dataset.ts';
import type { FeatureCache } from './featureCache.ts';
import { CENTRE_ONLY, extractFeatures, parseAugmentation, type ViewPlan } from './features.ts';
import { photoFeatures, type PhotoFeatures } from './photoFeatures.ts';
import { CENTRE_VIEW, combineCrops, type AnswerViews } from '../classifier/crops.ts';
import { SpreadDistance, unitSlice } from '../classifier/spread.ts';
import { fitSpread } from './fitSpread.ts';

export interface CalibrateOptions {
  classifier: Classifier;
  /** The backbones' ImageNet heads (loadImagenetHeads). */
  imagenet: (ImagenetHead | undefined)[];
  train: Sample[];
  valid: Sample[];
  /** Photos of species the head was not trained on (any labels). */
  unknown?: Sample[];
  cache?: FeatureCache;
  /**
   * How the probabilities members see are calibrated on valid: 'top-label' (the default:
   * Platt scaling of the best species' probability, which keeps the head's own ranking of
   * photos) or 'temperature' (temperature scaling of the whole distribution).
   */
  calibration?: 'top-label' | 'temperature';
  /** Use this species threshold instead of fitting one on `unknown`. */
  speciesThreshold?: number;
  /**
   * Or the threshold that answers this share of the valid photos with a species: a
   * leave-species-out run's answered share carried to a head that has no unknown
   * species to fit on (the calibrated top-1 is not the same number from head to head).
   */
  answeredShare?: number;
  /** Largest share of unknown-species photos that may be answered with a species (default 0.15). */
  unknownSpeciesRate?: number;
  /** Share of the flower photos' least flower-like tail, and the margin below it, that set the "not a flower" threshold. */
  flowerTail?: number;
  flowerMargin?: number;
  /** Share of the held-out flower photos farthest from the species that sets the "not a flower" distance (default DISTANCE_TAIL). */
  distanceTail?: number;
  /** Prototypes per species (default PROTOTYPES_PER_SPECIES). */
  prototypes?: number;
  /** Which backbone (index into meta.backbones) the distance is measured on (default 0, the first). */
  spreadBackbone?: number;
  /** The crops the bot will answer from (default: the centre crop); the settings are fitted on them. */
  views?: AnswerViews;
  /** At most this many held-out training photos (an even sample) for the flower classes and thresholds (default 2000). */
  maxTrain?: number;
  onProgress?: (label: string, done: number, total: number) => void;
}

export interface CalibrateReport {
  settings: AnswerSettings;
  /** Species prototypes to save beside the checkpoint (settings.centroids names the file). */
  centroids: Float32Array;
  temperature: number;
  eceBefore: number;
  eceAfter: number;
  validImages: number;
  flowerLikeness: { train: number[]; valid: number[]; unknown?: number[] };
  distance: { valid: number[]; unknown?: number[] };
}

/** Centre-view features of samples (cached), in order, with the ones that failed left out. */
export async function centreFeatures(
  clf: Classifier,
  samples: Sample[],
  cache: FeatureCache | undefined,
  onProgress?: (done: number, total: number) => void,
) {
  const r = await extractFeatures(samples, { embedder: clf.embedder, cache, plan: CENTRE_ONLY, onProgress });
  return { samples: r.items.map((it) => it.sample), features: r.items.map((it) => Float32Array.from(it.views[0]!)), skipped: r.skipped };
}

/** The checkpoint's own training views (meta.params: --aug-level / --aug-views / --seed), with or without the centre crop. */
function recipePlan(clf: Classifier, centre: boolean): ViewPlan {
  const p = clf.meta.params;
  return { centre, seed: p.seed, aug: parseAugmentation(p.augLevel, p.augViews) };
}

/**
 * Features of photos under the checkpoint's own augmented training views
 * (meta.params: --aug-level / --aug-views / --seed), cached like training's:
 * none for a centre-only recipe.
 */
async function augmentedRows(
  clf: Classifier,
  samples: Sample[],
  cache: FeatureCache | undefined,
  onProgress?: (done: number, total: number) => void,
): Promise<Float32Array[]> {
  const plan = recipePlan(clf, false);
  if (plan.aug.length === 0 || samples.length === 0) return [];
  const r = await extractFeatures(samples, { embedder: clf.embedder, cache, plan, onProgress });
  return r.items.flatMap((it) => it.views.map((v) => Float32Array.from(v)));
}

/** The threshold (4 decimals) halfway between the scores of the last photo answered and the first not, when `share` of them are answered. */
export function thresholdAnswering(scores: number[], share: number): number {
  const top = [...scores].sort((a, b) => b - a);
  const k = Math.round(share * top.length);
  if (k <= 0) return 1;
  if (k >= top.length) return Math.floor(top.at(-1)! * 1e4) / 1e4;
  return Number(((top[k - 1]! + top[k]!) / 2).toFixed(4));
}

/** Prototypes per species, and the share of held-out flower photos beyond the "not a flower" distance (chosen in the README's "Distance to the species"). */
export const PROTOTYPES_PER_SPECIES = 4;
export const DISTANCE_TAIL = 0.001;
/** Enough rows for 32 directions of 1,024 features; more only slows the fit. */
const MAX_SPREAD_ROWS = 8000;

const quartiles = (xs: number[]) => [0, 0.001, 0.01, 0.05, 0.25, 0.5].map((q) => Number(quantile(xs, q).toFixed(4)));
const topQuartiles = (xs: number[]) => [1, 0.999, 0.99, 0.95, 0.75, 0.5].map((q) => Number(quantile(xs, q).toFixed(2)));

export async function calibrate(o: CalibrateOptions): Promise<CalibrateReport> {
  const clf = o.classifier;
  const meta = clf.meta;
  if (!o.imagenet.some(Boolean))
    throw new Error("None of the checkpoint's backbones has a readable ImageNet head: cannot tell flowers from other photos");
  const views = o.views ?? CENTRE_VIEW;
  const valid = await photoFeatures(
    clf,
    o.valid.filter((s) => meta.labels.includes(s.label)),
    o.cache,
    views,
    (d, t) => o.onProgress?.('Features (valid)', d, t),
  );
  // A photo's probabilities: its crops' rows combined as the bot combines them.
  const probsOf = (photos: PhotoFeatures[]) => photos.map((p) => combineCrops(clf.probsOfFeatures(p.features), views.combine));
  // Half the training photos make the species prototypes; the other half, which the prototypes
  // never saw, shows how far flower photos fall from them. An even sample of it is plenty.
  const known = o.train.filter((s) => meta.labels.includes(s.label));
  const protoPhotos = known.filter((_, i) => i % 2 === 0);
  const heldOut = known.filter((_, i) => i % 2 === 1);
  const step = Math.max(1, Math.ceil(heldOut.length / (o.maxTrain ?? 2000)));
  const train = await centreFeatures(
    clf,
    heldOut.filter((_, i) => i % step === 0),
    o.cache,
    (d, t) => o.onProgress?.('Features (train)', d, t),
  );
  // The same photos under the checkpoint's own training views (phone-like, scenes…): flower photos
  // people take badly are still flowers, and the "not a flower" thresholds must leave them alone.
  const trainViews = await augmentedRows(clf, train.samples, o.cache, (d, t) => o.onProgress?.('Features (training views)', d, t));
  const raw = probsOf(valid.photos);
  const targets = valid.photos.map((p) => meta.labels.indexOf(p.sample.label));
  const calibration = o.calibration ?? 'top-label';
  const scaling = fitScaling(raw, targets, calibration === 'top-label');
  const temperature = scaling.temperature;
  const validTop1 = raw.map((r) => Math.max(...calibrateProbs(r, scaling)));
  const eceBefore = expectedCalibrationError(raw, targets);
  const eceAfter = expectedCalibrationError(
    raw.map((r) => calibrateProbs(r, scaling)),
    targets,
  );

  // Which ImageNet classes the training photos look like, per backbone.
  const offsets = featureOffsets(meta.backbones.map((b) => b.featureSize));
  const flowerClasses = o.imagenet.map((h, b) => (h ? pickFlowerClasses(train.features.map((f) => imagenetProbs(h, f, offsets[b]))) : []));
  const settings: AnswerSettings = { ...scaling, flowerClasses, views };
  const likenessOf = (f: Float32Array) => flowerLikeness(f, o.imagenet, offsets, flowerClasses) ?? 1;
  // A photo's signal is the mean over its crops, as the bot takes it.
  const perPhoto = (photos: PhotoFeatures[], signal: (f: Float32Array) => number) =>
    photos.map((p) => p.features.reduce((a, f) => a + signal(f), 0) / p.features.length);
  const flowerTrain = [...train.features, ...trainViews].map(likenessOf),
    flowerValid = perPhoto(valid.photos, likenessOf);
  // From flower photos only: never tuned to any set of other things.
  const tail = quantile([...flowerTrain, ...flowerValid], o.flowerTail ?? 0.002);
  settings.notFlowerBelow = tail * (o.flowerMargin ?? 0.5);

  // Species prototypes: a photo far from every species is not a flower either.
  // Prototypes from every training view, so a bed, a close-up or a filtered photo has one near it.
  const sizes = meta.backbones.map((b) => b.featureSize);
  const k = o.prototypes ?? PROTOTYPES_PER_SPECIES;
  const proto = await extractFeatures(protoPhotos, {
    embedder: clf.embedder,
    cache: o.cache,
    plan: recipePlan(clf, true),
    onProgress: (d, t) => o.onProgress?.('Features (prototypes)', d, t),
  });
  const protoRows = proto.items.flatMap((it) =>
    it.views.map((v) => ({ f: Float32Array.from(v), label: meta.labels.indexOf(it.sample.label) })),
  );
  const centroids = speciesPrototypes(
    protoRows.map((r) => r.f),
    protoRows.map((r) => r.label),
    meta.labels.length,
    sizes,
    k,
  );
  // The species' spread, from the same rows: how far from every species a photo is, weighed by how
  // the species' own photos vary (src/classifier/spread.ts), on one backbone.
  const backbone = o.spreadBackbone ?? 0;
  const at = offsets[backbone],
    size = sizes[backbone];
  if (at === undefined || size === undefined) throw new Error(`no backbone ${backbone} (the checkpoint has ${sizes.length})`);
  const even = Math.max(1, Math.ceil(protoRows.length / MAX_SPREAD_ROWS));
  const spreadRows = protoRows.filter((_, i) => i % even === 0);
  settings.spread = fitSpread(
    spreadRows.map((r) => unitSlice(r.f, at, size)),
    spreadRows.map((r) => r.label),
    backbone,
  );
  settings.centroids = 'centroids.bin';
  settings.prototypes = k;
  const far = new SpreadDistance(settings.spread, centroids, sizes);
  const distanceOf = (f: Float32Array) => far.distance(f);
  const distValid = perPhoto(valid.photos, distanceOf);
  const distFlowers = [...distValid, ...[...train.features, ...trainViews].map(distanceOf)];
  const distanceTail = o.distanceTail ?? DISTANCE_TAIL;
  settings.notFlowerDistanceAbove = quantile(distFlowers, 1 - distanceTail);

  let unknownLikeness: number[] | undefined;
  let unknownDist: number[] | undefined;
  let unknownTop1: number[] = [];
  if (o.unknown?.length) {
    const u = await photoFeatures(clf, o.unknown, o.cache, views, (d, t) => o.onProgress?.('Features (unknown species)', d, t));
    unknownLikeness = perPhoto(u.photos, likenessOf);
    unknownDist = perPhoto(u.photos, distanceOf);
    unknownTop1 = probsOf(u.photos).map((r) => Math.max(...calibrateProbs(r, scaling)));
  }
  if (o.speciesThreshold !== undefined) settings.speciesThreshold = o.speciesThreshold;
  else if (o.answeredShare !== undefined) settings.speciesThreshold = thresholdAnswering(validTop1, o.answeredShare);
  else if (unknownTop1.length) {
    // The lowest threshold that answers at most the allowed share of unknown species with a species.
    const rate = o.unknownSpeciesRate ?? 0.15;
    settings.speciesThreshold = Math.min(0.999, quantile(unknownTop1, 1 - rate) + 1e-6);
  }
  settings.fitted = {
    temperatureOn: `valid (${valid.photos.length} photos, crops ${views.crops.join('+')} combined by ${views.combine})`,
    calibration: calibration === 'top-label' ? 'top-label (Platt scaling of the top-1 on valid)' : 'temperature',
    flowerClassesOn: `train (${train.samples.length} photos), ImageNet classes covering 90% of their mass`,
    notFlowerBelow: `${o.flowerMargin ?? 0.5} × the ${(o.flowerTail ?? 0.002) * 100}% quantile of the flower-likeness of train (centre and ${trainViews.length} training views) + valid (${tail.toFixed(4)})`,
    prototypesOn: `${proto.items.length} training photos (every other one), ${protoRows.length} views, up to ${k} per species`,
    spread: `the within-species spread of ${spreadRows.length} of those views on ${meta.backbones[backbone]!.id} (${settings.spread.rank} main directions)`,
    notFlowerDistanceAbove: `the ${(1 - distanceTail) * 100}% quantile of the distance to the nearest species prototype of valid and the other training photos (centre and training views)`,
    speciesThreshold:
      o.speciesThreshold !== undefined
        ? 'given'
        : o.answeredShare !== undefined
          ? `answers ${o.answeredShare} of the ${validTop1.length} valid photos with a species`
          : unknownTop1.length
            ? `at most ${(o.unknownSpeciesRate ?? 0.15) * 100}% of ${unknownTop1.length} unknown-species photos answered with a species`
            : 'not fitted (BLOOM_CONFIDENCE_THRESHOLD)',
    eceBefore,
    eceAfter,
  };
  return {
    settings,
    centroids,
    temperature,
    eceBefore,
    eceAfter,
    validImages: valid.photos.length,
    flowerLikeness: {
      train: quartiles(flowerTrain),
      valid: quartiles(flowerValid),
      ...(unknownLikeness && { unknown: quartiles(unknownLikeness) }),
    },
    distance: { valid: topQuartiles(distValid), ...(unknownDist && { unknown: topQuartiles(unknownDist) }) },
  };
}

/** How the live model's answers were calibrated, for a full /retrain's new head (recalibrationOf). */
export type CalibrateJob = Pick<CalibrateOptions, 'calibration' | 'speciesThreshold' | 'views' | 'prototypes' | 'spreadBackbone'>;

/**
 * The live model's answer settings as a recipe for a new head's: the same calibration,
 * crops and distance, refitted on it. The species threshold is kept as it is: it reads
 * the calibrated probability of being right, which means the same for any head.
 */
export function recalibrationOf(a: AnswerSettings): CalibrateJob {
  return {
    calibration: a.topLabel ? 'top-label' : 'temperature',
    speciesThreshold: a.speciesThreshold,
    views: a.views,
    prototypes: a.prototypes,
    spreadBackbone: a.spread?.backbone,
  };
}

/** Writes the settings into the checkpoint's meta.json (write-then-rename). */
export function saveAnswerSettings(dir: string, settings: AnswerSettings, centroids?: Float32Array): void {
  if (centroids && settings.centroids) writeCentroids(path.join(dir, path.basename(settings.centroids)), centroids);
  const file = path.join(dir, 'meta.json');
  const meta = JSON.parse(fs.readFileSync(file, 'utf8')) as Record<string, unknown>;
  meta.answers = settings;
  const tmp = `${file}.tmp-${process.pid}`;
  fs.writeFileSync(tmp, JSON.stringify(meta, null, 2));
  fs.renameSync(tmp, file);
}

/**
 * Fits and saves a checkpoint's answer settings: loads it with the embedder given (closed
 * afterwards unless `keepEmbedder`) and the backbones' ImageNet heads. `npm run calibrate`,
 * `npm run train --ship` and a full `/retrain`.
 */
export async function calibrateCheckpoint(
  dir: string,
  o: Omit<CalibrateOptions, 'classifier' | 'imagenet'> & {
    embedder: Embedder;
    keepEmbedder?: boolean;
    loc: BackboneLocations;
    save?: boolean;
  },
): Promise<CalibrateReport> {
  const { embedder, keepEmbedder = false, loc, save = true, ...rest } = o;
  const meta = readMeta(dir);
  const clf = await Classifier.load({ checkpoint: dir, ...loc, embedder, ownsEmbedder: !keepEmbedder });
  try {
    const imagenet = await loadImagenetHeads(splitArch(archOf(meta)), meta.backbones, loc);
    const r = await calibrate({ ...rest, classifier: clf, imagenet });
    if (save) saveAnswerSettings(dir, r.settings, r.centroids);
    return r;
  } finally {
    await clf.dispose();
  }
}
