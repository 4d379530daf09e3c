// npm run ship-model -- --checkpoint DIR [--out models/default]: exports a
// trained checkpoint as the shipped default model (see models/README.md).
import { Command } from 'commander';
import { normaliseArgv } from '../src/cli/argv.ts';
import { backboneLocations, startBackend } from '../src/cli/backend.ts';
import { fail } from '../src/cli/exit.ts';
import { log } from '../src/cli/log.ts';
import { phaseProgress } from '../src/cli/progress.ts';
import { makeEmbedder } from '../src/classifier/makeEmbedder.ts';
import { loadConfig } from '../src/config.ts';
import { shippedModelDir } from '../src/modelDir.ts';
import { defaultPaths } from '../src/paths.ts';
import { shipModel } from '../src/training/ship.ts';

const paths = defaultPaths();
const program = new Command('ship-model')
  .description('Export a trained checkpoint as the shipped default model: float16 head, meta.json, typical/ thumbnails, demo.json')
  .requiredOption('--checkpoint <dir>', 'checkpoint folder, or a checkpoints root with CURRENT')
  .option('--out <dir>', 'where to write it (replaced)', shippedModelDir())
  .option('--data-dir <dir>', 'dataset root (typical photos, valid split)', paths.dataDir)
  .option('--workers <n>', 'feature-extraction workers if a valid photo is not in the feature cache (default: BLOOM_WORKERS)')
  .option('--json', 'print the result as JSON on stdout');

async function main() {
  program.parse(normaliseArgv(process.argv));
  const o = program.opts<{ checkpoint: string; out: string; dataDir: string; workers?: string; json?: boolean }>();
  const backend = await startBackend();
  const config = loadConfig();
  const progress = phaseProgress();
  const r = await shipModel({
    checkpoint: o.checkpoint,
    outDir: o.out,
    dataRoots: [o.dataDir],
    threshold: config.confidenceThreshold,
    command: 'npm run train:default',
    featureCacheDir: paths.featureCacheDir,
    backbones: backboneLocations(),
    startEmbedder: (arch) =>
      makeEmbedder({ arch, workers: o.workers ? Number(o.workers) : config.workers, loc: backboneLocations(), backend: backend.name }),
    onProgress: (done, total) => progress('Valid photos', done, total),
  });
  const v = r.meta.shipped.valid;
  const pct = (x: number) => `${(x * 100).toFixed(2)}%`;
  if (o.json)
    process.stdout.write(
      JSON.stringify({ dir: r.dir, bytes: r.bytes, fromVersion: r.meta.shipped.fromVersion, valid: v, demo: r.demo.picks }, null, 2) + '\n',
    );
  else {
    console.log(`Shipped ${r.meta.shipped.fromVersion} (${r.meta.params.arch}) to ${r.dir}: ${(r.bytes / 1024).toFixed(0)} KB`);
    console.log(
      `valid (${v.images} photos, float16 head): top-1 ${pct(v.top1)}, top-5 ${pct(v.top5)}; at the ${v.threshold} threshold confident and right ${pct(v.confidentRight)}, confident and wrong ${pct(v.confidentWrong)}, not sure ${pct(v.unsure)}`,
    );
    const a = v.answers;
    if (a)
      console.log(
        `the bot's answers (species at ${a.speciesThreshold}): the right species ${pct(a.speciesRight)}, a wrong species ${pct(a.speciesWrong)}, not sure ${pct(a.notSure)}, not a flower ${pct(a.notFlower)}`,
      );
    for (const p of r.demo.picks) log(`demo ${p.kind}: ${p.photo} → ${p.top1Label} ${(p.top1Probability * 100).toFixed(1)}%`);
  }
}

main().catch(fail);
