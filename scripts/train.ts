// npm run train -- --data-dir D --arch PRESET|PATH ... : trains a head on frozen features.
import { Command } from 'commander';
import { isDeepStrictEqual } from 'node:util';
import { presetNames } from '../src/classifier/backbones.ts';
import { parseHidden } from '../src/classifier/head.ts';
import { setCurrent } from '../src/classifier/checkpoint.ts';
import { normaliseArgv } from '../src/cli/argv.ts';
import { backboneLocations, startBackend } from '../src/cli/backend.ts';
import { fail } from '../src/cli/exit.ts';
import { log } from '../src/cli/log.ts';
import { phaseProgress } from '../src/cli/progress.ts';
import { makeEmbedder } from '../src/classifier/makeEmbedder.ts';
import { loadConfig } from '../src/config.ts';
import { shippedModelDir } from '../src/modelDir.ts';
import { defaultPaths } from '../src/paths.ts';
import { FeatureCache } from '../src/training/featureCache.ts';
import { calibrateCheckpoint } from '../src/training/calibrate.ts';
import { parseLabelList, scanDataset } from '../src/training/dataset.ts';
import { DEFAULT_ANSWER_VIEWS, DEFAULT_ANSWERED_SHARE, DEFAULT_TRAIN_PARAMS } from '../src/training/defaults.ts';
import { train } from '../src/training/trainer.ts';
import { DEFAULT_LOGIT_TEMPERATURE, HEAD_LOSSES, isHeadLoss, type HeadLossName } from '../src/training/headLoss.ts';
import { parseAugmentation } from '../src/training/features.ts';
import { shipModel } from '../src/training/ship.ts';

const paths = defaultPaths();
const D = DEFAULT_TRAIN_PARAMS;
const program = new Command('train')
  .description('Train a flower classifier head on frozen backbone features')
  .option('--data-dir <dir>', 'dataset root with train/ and valid/ (and cat_to_name.json)', paths.dataDir)
  .option('--arch <arch>', `backbone preset, folder or model.json URL; join several with + (presets: ${presetNames().join(', ')})`, D.arch)
  .option('--hidden-units <n>', 'hidden layer widths, e.g. 512 or 512,256; 0 = linear head', D.hiddenUnits.join(',') || '0')
  .option('--dropout <p>', 'dropout rate (on the input of a linear head)', String(D.dropout))
  .option('--learning-rate <x>', 'Adam learning rate', String(D.learningRate))
  .option('--epochs <n>', 'training epochs', String(D.epochs))
  .option('--batch-size <n>', 'minibatch size', String(D.batchSize))
  .option(
    '--aug-views <n>',
    'augmented views per training image (0 = centre crop only; with a mix in --aug-level its counts apply)',
    String(D.augViews),
  )
  .option(
    '--aug-level <level>',
    'basic (crop + flip), robust (adds rotation, colour, blur, low resolution, JPEG), phone (all of them harsher and together, plus noise), or a mix with counts such as robust:2,phone:3',
    D.augLevel,
  )
  .option('--seed <n>', 'augmentation seed', String(D.seed))
  .option(
    '--outlier-mix <share>',
    'per training row, this many rows mixed from two species and trained toward no species (less sure of species it never saw; 0 = none)',
    String(D.outlierMix ?? 0),
  )
  .option('--views-per-epoch <n>', 'random views of each photo per epoch (0 = all views every epoch)', String(D.viewsPerEpoch ?? 0))
  .option('--loss <name>', `training loss: ${HEAD_LOSSES.join(' or ')} (LogitNorm: less sure of species it never saw)`, 'crossentropy')
  .option('--logit-temperature <t>', "LogitNorm's τ: the logits are scaled to norm 1/τ", String(DEFAULT_LOGIT_TEMPERATURE))
  .option('--max-per-class <n>', 'use at most N images per class (quick runs)')
  .option(
    '--exclude-labels <labels>',
    'leave these data set labels out entirely, comma-separated (a model that never saw them, e.g. for npm run demo:teach)',
  )
  .option('--gpu', 'use the GPU (tfjs-node-gpu) when available')
  .option('--workers <n>', 'feature-extraction worker threads (default: BLOOM_WORKERS, one per core)')
  .option('--save-dir <dir>', 'checkpoints root; the new version becomes CURRENT', paths.checkpointDir)
  .option('--no-set-current', 'do not point CURRENT at the new checkpoint')
  .option(
    '--ship',
    'then export the checkpoint as the shipped default model in models/default (default recipe only; npm run train:default)',
  )
  .option('--json', 'print the result as JSON on stdout');

interface TrainOptions {
  dataDir: string;
  arch: string;
  hiddenUnits: string;
  dropout: string;
  learningRate: string;
  epochs: string;
  batchSize: string;
  augViews: string;
  augLevel: string;
  seed: string;
  outlierMix: string;
  viewsPerEpoch: string;
  loss: string;
  logitTemperature: string;
  maxPerClass?: string;
  excludeLabels?: string;
  gpu?: boolean;
  workers?: string;
  saveDir: string;
  setCurrent: boolean;
  ship?: boolean;
  json?: boolean;
}

function headLoss(v: string): HeadLossName {
  if (!isHeadLoss(v)) throw new Error(`--loss must be ${HEAD_LOSSES.join(' or ')} (got "${v}")`);
  return v;
}

async function main() {
  program.parse(normaliseArgv(process.argv));
  const o = program.opts<TrainOptions>();
  const num = (name: string, v: string, min: number) => {
    const n = Number(v);
    if (!Number.isFinite(n) || n < min) throw new Error(`--${name} must be a number ≥ ${min} (got "${v}")`);
    return n;
  };
  // Checked before any backbone loads, so a typo fails at once.
  const aug = parseAugmentation(o.augLevel, num('aug-views', o.augViews, 0));
  const outlierMix = num('outlier-mix', o.outlierMix, 0);
  const params = {
    arch: o.arch,
    hiddenUnits: parseHidden(o.hiddenUnits),
    dropout: num('dropout', o.dropout, 0),
    learningRate: num('learning-rate', o.learningRate, 0),
    epochs: num('epochs', o.epochs, 1),
    batchSize: num('batch-size', o.batchSize, 1),
    augViews: aug.reduce((n, set) => n + set.views, 0),
    augLevel: o.augLevel,
    seed: num('seed', o.seed, 0),
    viewsPerEpoch: num('views-per-epoch', o.viewsPerEpoch, 0),
    ...(outlierMix > 0 && { outlierMix }),
    ...(o.loss !== 'crossentropy' && { loss: headLoss(o.loss), logitTemperature: num('logit-temperature', o.logitTemperature, 1e-6) }),
  };
  // The shipped model is the default recipe on the whole data set, nothing else (test/shippedModel.test.ts checks it).
  if (o.ship && (o.maxPerClass || o.excludeLabels || !isDeepStrictEqual(params, DEFAULT_TRAIN_PARAMS)))
    throw new Error(
      '--ship exports the default recipe on every photo: drop the recipe options and --max-per-class (or export a checkpoint with npm run ship-model)',
    );
  const backend = await startBackend({ gpu: !!o.gpu });
  const workers = o.workers ? num('workers', o.workers, 0) : loadConfig().workers;
  const embedder = await makeEmbedder({ arch: o.arch, workers, loc: backboneLocations(), backend: backend.name });
  const progress = phaseProgress();
  const result = await train({
    dataDir: o.dataDir,
    saveDir: o.saveDir,
    ...params,
    maxPerClass: o.maxPerClass ? num('max-per-class', o.maxPerClass, 1) : undefined,
    excludeLabels: o.excludeLabels ? parseLabelList(o.excludeLabels) : undefined,
    embedder,
    cache: new FeatureCache(paths.featureCacheDir),
    onEvent: (e) => {
      if (e.phase === 'scan') {
        const d = e.dataset;
        log(`Dataset ${d.root}: ${d.labels.length} classes, ${d.splits.train?.length ?? 0} train, ${d.splits.valid?.length ?? 0} valid`);
        for (const p of d.problems.slice(0, 20)) log(`  warning: ${p}`);
        if (d.problems.length > 20) log(`  … and ${d.problems.length - 20} more warnings`);
      } else if (e.phase === 'extract') progress(`Features (${e.split})`, e.done, e.total);
      else if (e.phase === 'train') {
        const m = e.metrics;
        progress('Training head (epochs)', e.epoch, e.epochs);
        log(
          `epoch ${m.epoch}/${e.epochs}  train loss ${m.trainLoss.toFixed(4)} acc ${m.trainAccuracy.toFixed(4)}  valid loss ${m.validLoss.toFixed(4)} acc ${m.validAccuracy.toFixed(4)}${e.best ? '  *best' : ''}`,
        );
      }
    },
  });
  await embedder.close();
  if (o.setCurrent) setCurrent(o.saveDir, result.meta.version);
  for (const s of result.skipped) log(`skipped ${s.path}: ${s.reason}`);
  const m = result.meta;
  const summary = {
    checkpoint: result.dir,
    version: m.version,
    backend: backend.name,
    arch: m.params.arch,
    bestEpoch: m.bestEpoch,
    validTop1: m.validAccuracy,
    validTop5: m.validTop5,
    trainImages: m.trainImages,
    validImages: m.validImages,
    featuresExtracted: result.extracted,
    featuresFromCache: result.cached,
    skipped: result.skipped.length,
    seconds: m.trainSeconds,
  };
  if (o.ship) {
    // The shipped model answers in three kinds: calibrate it first (temperature, flower-likeness, thresholds).
    const ds = scanDataset(o.dataDir);
    await calibrateCheckpoint(result.dir, {
      embedder: await makeEmbedder({ arch: m.params.arch, workers, loc: backboneLocations(), backend: backend.name }),
      loc: backboneLocations(),
      train: ds.splits.train ?? [],
      valid: ds.splits.valid ?? [],
      answeredShare: DEFAULT_ANSWERED_SHARE,
      views: DEFAULT_ANSWER_VIEWS,
      cache: new FeatureCache(paths.featureCacheDir),
      onProgress: phaseProgress(),
    });
    const s = await shipModel({
      checkpoint: result.dir,
      outDir: shippedModelDir(),
      dataRoots: [o.dataDir],
      threshold: loadConfig().confidenceThreshold,
      command: 'npm run train:default',
      featureCacheDir: paths.featureCacheDir,
      backbones: backboneLocations(),
      startEmbedder: (arch) => makeEmbedder({ arch, workers, loc: backboneLocations(), backend: backend.name }),
    });
    log(
      `Shipped to ${s.dir} (${(s.bytes / 1024).toFixed(0)} KB): valid top-1 ${(s.meta.validAccuracy * 100).toFixed(2)}%, top-5 ${(s.meta.validTop5 * 100).toFixed(2)}% with the float16 head`,
    );
    Object.assign(summary, { shipped: s.dir, shippedValidTop1: s.meta.validAccuracy, shippedValidTop5: s.meta.validTop5 });
  }
  if (o.json) process.stdout.write(JSON.stringify(summary, null, 2) + '\n');
  else {
    console.log(`Saved ${result.dir} (version ${m.version}, backend ${backend.name})`);
    console.log(
      `Best epoch ${m.bestEpoch}: valid top-1 ${(m.validAccuracy * 100).toFixed(2)}%, top-5 ${(m.validTop5 * 100).toFixed(2)}% in ${m.trainSeconds.toFixed(1)} s (${result.extracted} views extracted, ${result.cached} from cache)`,
    );
  }
}

main().catch(fail);
