// npm run calibrate -- --checkpoint C [--data-dir D] [--unknown DIR | --unknown-labels L | --species-threshold X | --answered-share S] [--json]
// Fits the answer settings (calibration, flower classes, the species' spread, thresholds) and writes them into the checkpoint's meta.json.
import { Command } from 'commander';
import { archOf } from '../src/classifier/classifier.ts';
import { readMeta, resolveCheckpointDir } from '../src/classifier/checkpoint.ts';
import { makeEmbedder } from '../src/classifier/makeEmbedder.ts';
import { normaliseArgv } from '../src/cli/argv.ts';
import { backboneLocations, startBackend } from '../src/cli/backend.ts';
import { fail } from '../src/cli/exit.ts';
import { log } from '../src/cli/log.ts';
import { phaseProgress } from '../src/cli/progress.ts';
import { loadConfig } from '../src/config.ts';
import { defaultPaths } from '../src/paths.ts';
import { calibrateCheckpoint, DISTANCE_TAIL, PROTOTYPES_PER_SPECIES } from '../src/training/calibrate.ts';
import { parseAnswerViews } from '../src/classifier/crops.ts';
import { listImages, parseLabelList, photosOfLabels, scanDataset } from '../src/training/dataset.ts';
import { FeatureCache } from '../src/training/featureCache.ts';

const paths = defaultPaths();
const program = new Command('calibrate')
  .description(
    'Fit how a checkpoint answers: calibration, flower-likeness, distance to the species, species and not-a-flower thresholds (saved in its meta.json)',
  )
  .requiredOption('--checkpoint <dir>', 'checkpoint folder, or a checkpoints root with CURRENT')
  .option('--data-dir <dir>', 'the dataset it was trained on (train/ and valid/)', paths.dataDir)
  .option('--unknown <dir>', 'photos of flower species the checkpoint was not trained on (any depth): fits the species threshold')
  .option(
    '--unknown-labels <labels>',
    "instead of --unknown: the data set's photos of these labels (comma-separated), left out of training with --exclude-labels",
  )
  .option('--unknown-species-rate <x>', 'largest share of the unknown photos that may be answered with a species', '0.15')
  .option('--species-threshold <x>', 'use this species threshold (e.g. one fitted on a leave-species-out run)')
  .option(
    '--answered-share <x>',
    'the species threshold that answers this share of the valid photos with a species (the share a leave-species-out run answers)',
  )
  .option('--crops <list>', 'the crops the bot answers from: centre, whole, zoom (comma-separated, centre first)', 'centre')
  .option('--combine <how>', "how a photo's crops combine: mean or max (the crop the model is surest of)", 'mean')
  .option(
    '--prototypes <k>',
    'prototypes per species that the distance to the species is measured from (spherical k-means over the training views)',
    String(PROTOTYPES_PER_SPECIES),
  )
  .option(
    '--distance-tail <q>',
    'share of the held-out flower photos (and their training views) farther from the species than where "not a flower" starts',
    String(DISTANCE_TAIL),
  )
  .option('--spread-backbone <i>', 'which backbone (0 = the first of the checkpoint) the distance to the species is measured on', '0')
  .option(
    '--calibration <how>',
    "top-label (Platt scaling of the best species' probability: photos keep the head's ranking) or temperature",
    'top-label',
  )
  .option('--dry-run', 'print the settings without saving them')
  .option('--workers <n>', 'feature-extraction worker threads (default: BLOOM_WORKERS)')
  .option('--json', 'print the result as JSON on stdout');

interface CalibrateOptions {
  checkpoint: string;
  dataDir: string;
  unknown?: string;
  unknownLabels?: string;
  unknownSpeciesRate: string;
  speciesThreshold?: string;
  answeredShare?: string;
  crops: string;
  combine: string;
  prototypes: string;
  distanceTail: string;
  calibration: string;
  spreadBackbone: string;
  dryRun?: boolean;
  workers?: string;
  json?: boolean;
}

async function main() {
  program.parse(normaliseArgv(process.argv));
  const o = program.opts<CalibrateOptions>();
  const num = (name: string, v: string) => {
    const n = Number(v);
    if (!Number.isFinite(n) || n < 0 || n > 1) throw new Error(`--${name} must be a number between 0 and 1 (got "${v}")`);
    return n;
  };
  const prototypes = Number(o.prototypes);
  if (!Number.isInteger(prototypes) || prototypes < 1 || prototypes > 64)
    throw new Error(`--prototypes must be a whole number from 1 to 64 (got "${o.prototypes}")`);
  const dir = resolveCheckpointDir(o.checkpoint);
  const meta = readMeta(dir);
  if (o.calibration !== 'top-label' && o.calibration !== 'temperature')
    throw new Error(`--calibration must be top-label or temperature (got "${o.calibration}")`);
  const calibration = o.calibration;
  const spreadBackbone = Number(o.spreadBackbone);
  if (!Number.isInteger(spreadBackbone) || spreadBackbone < 0 || spreadBackbone >= meta.backbones.length)
    throw new Error(`--spread-backbone must be a backbone index from 0 to ${meta.backbones.length - 1} (got "${o.spreadBackbone}")`);
  const ways = ['unknown', 'unknownLabels', 'speciesThreshold', 'answeredShare'] as const;
  if (ways.filter((w) => o[w] !== undefined).length > 1)
    throw new Error('choose one way to set the species threshold: --unknown, --unknown-labels, --species-threshold or --answered-share');
  const ds = scanDataset(o.dataDir);
  const unknown = o.unknown
    ? listImages(o.unknown)
    : o.unknownLabels
      ? photosOfLabels(ds, parseLabelList(o.unknownLabels), meta.labels)
      : undefined;
  const backend = await startBackend();
  const embedder = await makeEmbedder({
    arch: archOf(meta),
    workers: o.workers ? Number(o.workers) : loadConfig().workers,
    loc: backboneLocations(),
    backend: backend.name,
  });
  const r = await calibrateCheckpoint(dir, {
    embedder,
    loc: backboneLocations(),
    save: !o.dryRun,
    train: ds.splits.train ?? [],
    valid: ds.splits.valid ?? [],
    unknown,
    speciesThreshold: o.speciesThreshold !== undefined ? num('species-threshold', o.speciesThreshold) : undefined,
    answeredShare: o.answeredShare !== undefined ? num('answered-share', o.answeredShare) : undefined,
    unknownSpeciesRate: num('unknown-species-rate', o.unknownSpeciesRate),
    views: parseAnswerViews(o.crops, o.combine),
    prototypes,
    distanceTail: num('distance-tail', o.distanceTail),
    calibration,
    spreadBackbone,
    cache: new FeatureCache(paths.featureCacheDir),
    onProgress: phaseProgress(),
  });
  const { flowerClasses, spread, ...shown } = r.settings;
  const summary = {
    checkpoint: dir,
    saved: !o.dryRun,
    ...shown,
    eceBefore: r.eceBefore,
    eceAfter: r.eceAfter,
    validImages: r.validImages,
    flowerClasses: flowerClasses?.map((c) => c.length),
    spread: spread && { backbone: spread.backbone, rank: spread.rank, rest: spread.rest },
    flowerLikeness: r.flowerLikeness,
    distance: r.distance,
  };
  if (o.json) process.stdout.write(JSON.stringify(summary, null, 2) + '\n');
  else {
    console.log(`${o.dryRun ? 'Fitted (not saved)' : 'Saved in'} ${dir}/meta.json`);
    console.log(
      `${r.settings.topLabel ? `top-label (a ${r.settings.topLabel.a.toFixed(3)}, b ${r.settings.topLabel.b.toFixed(3)})` : `temperature ${r.temperature.toFixed(3)}`}: expected calibration error ${(r.eceBefore * 100).toFixed(2)}% → ${(r.eceAfter * 100).toFixed(2)}% on ${r.validImages} valid photos`,
    );
    console.log(
      `flower classes per backbone: ${flowerClasses?.map((c) => c.length).join(', ')}; not a flower below ${r.settings.notFlowerBelow?.toFixed(4)} flower-likeness or a distance above ${r.settings.notFlowerDistanceAbove?.toFixed(1)} to the nearest species (${r.settings.prototypes} prototypes each)`,
    );
    console.log(`species threshold: ${r.settings.speciesThreshold?.toFixed(4) ?? 'none (BLOOM_CONFIDENCE_THRESHOLD)'}`);
  }
  log('flower-likeness quantiles (0, 0.1%, 1%, 5%, 25%, 50%): ' + JSON.stringify(r.flowerLikeness));
  log('distance quantiles (100%, 99.9%, 99%, 95%, 75%, 50%): ' + JSON.stringify(r.distance));
}

main().catch(fail);
