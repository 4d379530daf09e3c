// npm run evaluate -- --data-dir D --checkpoint D [--split valid|test] [--unknown DIR | --unknown-labels L] [--not-flowers DIR] [--perturb] [--tta] [--json]
import { Command } from 'commander';
import fs from 'node:fs';
import path from 'node:path';
import { archOf, Classifier } from '../src/classifier/classifier.ts';
import { readMeta, resolveCheckpointDir } from '../src/classifier/checkpoint.ts';
import { loadConfig } from '../src/config.ts';
import { normaliseArgv } from '../src/cli/argv.ts';
import { backboneLocations, startBackend } from '../src/cli/backend.ts';
import { fail } from '../src/cli/exit.ts';
import { log } from '../src/cli/log.ts';
import { phaseProgress } from '../src/cli/progress.ts';
import { makeEmbedder } from '../src/classifier/makeEmbedder.ts';
import { modelDir } from '../src/modelDir.ts';
import { defaultPaths } from '../src/paths.ts';
import { listImages, parseLabelList, photosOfLabels, scanDataset, type Split } from '../src/training/dataset.ts';
import { evaluate } from '../src/training/evaluate.ts';
import { parseAnswerViews } from '../src/classifier/crops.ts';
import { FeatureCache } from '../src/training/featureCache.ts';

const paths = defaultPaths();
const program = new Command('evaluate')
  .description('Measure a checkpoint on a dataset split')
  .option('--data-dir <dir>', 'dataset root', paths.dataDir)
  .option(
    '--checkpoint <dir>',
    'checkpoint folder, or a checkpoints root with CURRENT (default: BLOOM_CHECKPOINT_DIR, else your own models/checkpoints, else the shipped models/default)',
    modelDir(loadConfig()).dir,
  )
  .option('--split <split>', 'train, valid or test', 'test')
  .option('--perturb', 'also score seeded phone-like perturbations (crop, tilt, light, blur, low resolution, JPEG)')
  .option('--seed <n>', 'perturbation seed', '1')
  .option('--tta', 'test-time augmentation')
  .option('--unknown <dir>', 'photos of flower species the model was not trained on (any depth): how they are answered')
  .option(
    '--unknown-labels <labels>',
    'instead of --unknown: every photo under --data-dir (train, valid, test) of these labels, left out of training with --exclude-labels',
  )
  .option(
    '--open-set',
    'with --unknown: compare the signals that could tell those photos from the known species (AUROC, known share at 20% unknown); with an ensemble and train/ under --data-dir, heads trained apart on each backbone too',
  )
  .option('--not-flowers <dir>', 'photos that are not flowers (any depth): how they are answered')
  .option('--crops <list>', "answer from these crops instead of the checkpoint's (centre, whole, zoom; centre first)")
  .option('--combine <how>', "combine the crops by mean or max instead of the checkpoint's way")
  .option('--worst <n>', 'how many of the worst classes to list', '10')
  .option('--gpu', 'use the GPU when available')
  .option('--workers <n>', 'feature-extraction worker threads (default: BLOOM_WORKERS)')
  .option('--json', 'print JSON on stdout');

interface EvaluateOptions {
  dataDir: string;
  checkpoint: string;
  split: string;
  perturb?: boolean;
  seed: string;
  tta?: boolean;
  unknown?: string;
  unknownLabels?: string;
  notFlowers?: string;
  openSet?: boolean;
  crops?: string;
  combine?: string;
  worst: string;
  gpu?: boolean;
  workers?: string;
  json?: boolean;
}

async function main() {
  program.parse(normaliseArgv(process.argv));
  const o = program.opts<EvaluateOptions>();
  const split = o.split as Split;
  if (!['train', 'valid', 'test'].includes(split)) throw new Error(`--split must be train, valid or test (got "${o.split}")`);
  const ds = scanDataset(o.dataDir, { only: split });
  if (o.openSet && !o.unknown && !o.unknownLabels)
    throw new Error('--open-set needs --unknown DIR or --unknown-labels L (photos of species the model was not trained on)');
  if (o.unknown && o.unknownLabels) throw new Error('--unknown and --unknown-labels: choose one');
  const notFlowers = o.notFlowers ? listImages(o.notFlowers) : undefined;
  const samples = ds.splits[split];
  if (!samples?.length) throw new Error(`${o.dataDir} has no ${split}/ images${split === 'test' ? ' (try --split valid)' : ''}`);
  const backend = await startBackend({ gpu: !!o.gpu });
  const meta = readMeta(resolveCheckpointDir(o.checkpoint));
  const unknown = o.unknown
    ? listImages(o.unknown)
    : o.unknownLabels
      ? photosOfLabels(scanDataset(o.dataDir), parseLabelList(o.unknownLabels), meta.labels)
      : undefined;
  const embedder = await makeEmbedder({
    arch: archOf(meta),
    workers: o.workers ? Number(o.workers) : loadConfig().workers,
    loc: backboneLocations(),
    backend: backend.name,
  });
  const clf = await Classifier.load({ checkpoint: o.checkpoint, ...backboneLocations(), embedder, ownsEmbedder: true });
  if (o.crops || o.combine)
    clf.useAnswerViews(parseAnswerViews(o.crops ?? clf.answerViews.crops.join(','), o.combine ?? clf.answerViews.combine));
  const progress = phaseProgress();
  const r = await evaluate({
    classifier: clf,
    samples,
    cache: new FeatureCache(paths.featureCacheDir),
    perturb: !!o.perturb,
    tta: !!o.tta,
    seed: Number(o.seed),
    onProgress: progress,
    fallbackThreshold: loadConfig().confidenceThreshold,
    unknown,
    notFlowers,
    openSet: !!o.openSet,
    ...(o.openSet &&
      fs.existsSync(path.join(o.dataDir, 'train')) && { openSetTrain: scanDataset(o.dataDir, { only: 'train' }).splits.train }),
  });
  const worst = r.perClass.slice(0, Number(o.worst));
  if (o.json) {
    process.stdout.write(
      JSON.stringify(
        {
          split,
          checkpoint: clf.version,
          arch: clf.meta.params.arch,
          backend: backend.name,
          views: clf.answerViews,
          ...r,
          perClass: undefined,
          worst,
        },
        null,
        2,
      ) + '\n',
    );
  } else {
    const pct = (x: number) => `${(x * 100).toFixed(2)}%`;
    console.log(
      `${split}: ${r.clean.images} images, model ${clf.version} (${clf.meta.params.arch}), backend ${backend.name}${r.tta ? ', TTA' : ''}`,
    );
    console.log(`clean      top-1 ${pct(r.clean.top1)}  top-5 ${pct(r.clean.top5)}`);
    if (r.perturbed) console.log(`perturbed  top-1 ${pct(r.perturbed.top1)}  top-5 ${pct(r.perturbed.top5)}`);
    const a = r.answers;
    const shares = (name: string, x?: { images: number; species: number; speciesCorrect?: number; notSure: number; notFlower: number }) => {
      if (x)
        console.log(
          `${name.padEnd(11)}${String(x.images).padStart(5)} photos: species ${pct(x.species)}${x.speciesCorrect !== undefined ? ` (right ${pct(x.speciesCorrect)})` : ''}  not sure ${pct(x.notSure)}  not a flower ${pct(x.notFlower)}`,
        );
    };
    shares('answers', a?.known);
    shares('unknown', a?.unknown);
    shares('not flowers', a?.notFlowers);
    if (r.openSet) {
      console.log(`open set (known species answered while at most ${pct(r.openSet[0]?.unknownShare ?? 0)} of the unknown are):`);
      for (const x of r.openSet)
        console.log(
          `  ${x.signal.padEnd(46)} AUROC ${x.auroc.toFixed(3)}  known ${pct(x.known)}${x.knownRight === undefined ? '' : `  right ${pct(x.knownRight)}`}`,
        );
    }
    console.log(`speed      ${r.msPerImage.toFixed(1)} ms per image (decode + model, one at a time)`);
    console.log('worst classes:');
    for (const c of worst) console.log(`  ${pct(c.accuracy).padStart(7)}  ${c.name} (${c.label}, ${c.images} images)`);
  }
  for (const s of r.skipped) log(`skipped ${s.path}: ${s.reason}`);
  await clf.dispose();
}

main().catch(fail);
