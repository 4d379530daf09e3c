// npm run bench [-- --quick --json ...]: the performance figures of issue 5.
// A table on stdout (or one JSON document with --json); progress on stderr.
import path from 'node:path';
import { Command } from 'commander';
import { normaliseArgv } from '../src/cli/argv.ts';
import { fail } from '../src/cli/exit.ts';
import { log } from '../src/cli/log.ts';
import { loadConfig } from '../src/config.ts';
import { modelDir } from '../src/modelDir.ts';
import { formatReport } from '../src/bench/report.ts';
import { runBench } from '../src/bench/run.ts';
import { roundDeep } from '../src/bench/stats.ts';

const list = (v: string) =>
  v
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
const positive = (name: string) => (v: string) => {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0) throw new Error(`--${name} must be a whole number ≥ 0 (got "${v}")`);
  return n;
};

const program = new Command('bench')
  .description('Measure extraction speed, end-to-end latency through the Discord emulator, /retrain wall time and peak memory')
  .option('--quick', 'fewer iterations (smoke test)')
  .option('--json', 'print one JSON document on stdout')
  .option('--synthetic', 'use the tiny synthetic CNN and shape photos even when ../shared is present (also BLOOM_BENCH_SYNTHETIC=1)')
  .option('--workers <list>', 'worker counts to compare', '1,2')
  .option('--backbones <list>', 'backbones to time', 'mobilenet_v1_0.75_224,densenet121')
  .option('--wasm-threads <n>', 'threads for the single-worker multi-threaded wasm run (0 = skip)', '2')
  .option('--no-extraction', 'skip the extraction measurements')
  .option('--no-e2e', 'skip the end-to-end measurements')
  .option('--alone <n>', 'photos posted one after another (default 20, quick 5)')
  .option('--burst <n>', 'photos posted at once (default 50, quick 20)')
  .option('--users <n>', 'users posting the burst (default 10, quick 5)')
  .option('--retrain', '/retrain cold (fresh temp feature cache) then warm (same cache); long on the full set')
  .option(
    '--retrain-subset <n>',
    'with --retrain / --retrain-warm-only: at most N photos per class (implies --retrain if neither is given)',
  )
  .option('--retrain-warm-only', 'a warm /retrain on the project feature cache (models/features): the ≤ 60 s target')
  .option('--learn', 'a /retrain learning contributions, cold (empty temp feature cache) then warm: the ≤ 600 s / ≤ 120 s targets')
  .option('--learn-photos <dir>', 'with --learn: photos of one species the model does not know (implies --learn)')
  .option('--learn-name <name>', "with --learn: that species' name (default: the folder's name)")
  .option('--learn-count <n>', 'with --learn: approved photos in all, topped up with training photos of known species', '100');

interface BenchOptions {
  quick?: boolean;
  json?: boolean;
  synthetic?: boolean;
  workers: string;
  backbones: string;
  wasmThreads: string;
  extraction: boolean;
  e2e: boolean;
  alone?: string;
  burst?: string;
  users?: string;
  retrain?: boolean;
  retrainSubset?: string;
  retrainWarmOnly?: boolean;
  learn?: boolean;
  learnPhotos?: string;
  learnName?: string;
  learnCount: string;
}

async function main(): Promise<void> {
  program.parse(normaliseArgv(process.argv));
  const o = program.opts<BenchOptions>();
  const workers = list(o.workers).map(positive('workers'));
  if (workers.some((w) => w < 1)) throw new Error('--workers takes counts ≥ 1');
  const subset = o.retrainSubset !== undefined ? positive('retrain-subset')(o.retrainSubset) : undefined;
  const opt = (name: string, v: string | undefined) => (v === undefined ? undefined : positive(name)(v));
  const learnCount = positive('learn-count')(o.learnCount);
  if ((o.learn || o.learnPhotos) && !o.learnPhotos)
    throw new Error('--learn needs --learn-photos DIR: photos of a species the model does not know');
  if (o.learnPhotos && learnCount < 1) throw new Error('--learn-count must be at least 1');
  const learn = o.learnPhotos
    ? { photosDir: path.resolve(o.learnPhotos), name: o.learnName?.trim() || path.basename(path.resolve(o.learnPhotos)), count: learnCount }
    : undefined;
  const config = loadConfig(process.env);
  const result = await runBench({
    // The model the bot would start with (the shipped one when you have none of your own).
    config: { ...config, checkpointDir: modelDir(config).dir },
    quick: !!o.quick,
    synthetic: !!o.synthetic || process.env.BLOOM_BENCH_SYNTHETIC === '1',
    workers,
    backbones: list(o.backbones),
    extraction: o.extraction !== false,
    endToEnd: o.e2e !== false,
    wasmThreads: positive('wasm-threads')(o.wasmThreads),
    retrain: !!o.retrain || (subset !== undefined && !o.retrainWarmOnly),
    retrainWarmOnly: !!o.retrainWarmOnly,
    retrainSubset: subset || undefined,
    learn,
    alone: opt('alone', o.alone),
    burst: opt('burst', o.burst),
    users: opt('users', o.users),
    log,
  });
  process.stdout.write(o.json ? JSON.stringify(roundDeep(result, 3), null, 2) + '\n' : formatReport(result));
}

main().catch(fail);
