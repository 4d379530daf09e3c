// Smoke test of `npm run bench`: the quick synthetic run (tiny CNN, shape photos,
// no ../shared needed) produces one JSON document with every figure present.
// Speed targets are the bench's business, not this test's.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';
import { percentile, summarise } from '../src/bench/stats.ts';
import type { BenchResult } from '../src/bench/run.ts';

function runBench(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const root = fileURLToPath(new URL('..', import.meta.url));
    const child = spawn(process.execPath, ['--import', 'tsx', 'scripts/bench.ts', ...args], {
      cwd: root,
      env: { ...process.env, BLOOM_BENCH_SYNTHETIC: '1', BLOOM_BENCH_VERBOSE: '' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '',
      stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

/** A species the synthetic model has never seen: yellow ellipses on purple, one photo per position. */
async function unknownSpecies(dir: string, n: number): Promise<void> {
  fs.mkdirSync(dir, { recursive: true });
  for (let i = 0; i < n; i++) {
    const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="96" height="96"><rect width="100%" height="100%" fill="rgb(90,${60 + 5 * i},140)"/><ellipse cx="${30 + 3 * i}" cy="48" rx="30" ry="12" fill="rgb(240,220,20)"/></svg>`;
    await sharp(Buffer.from(svg))
      .jpeg()
      .toFile(path.join(dir, `ellipse_${i}.jpg`));
  }
}

function positive(v: unknown, where: string): void {
  assert.equal(typeof v, 'number', `${where} is a number`);
  assert.ok(Number.isFinite(v) && (v as number) > 0, `${where} is finite and positive (got ${String(v)})`);
}

test('percentiles are nearest-rank over the samples', () => {
  const xs = Array.from({ length: 20 }, (_, i) => 20 - i);
  assert.equal(percentile(xs, 50), 10);
  assert.equal(percentile(xs, 95), 19);
  assert.equal(percentile(xs, 100), 20);
  assert.equal(percentile([7], 95), 7);
  assert.ok(Number.isNaN(percentile([], 50)));
  assert.deepEqual(summarise([1, 2, 3, 4]), { n: 4, mean: 2.5, min: 1, p50: 2, p95: 4, max: 4 });
});

test('npm run bench -- --quick --json --synthetic --retrain --learn reports every figure', { timeout: 240_000 }, async (t) => {
  const unknown = fs.mkdtempSync(path.join(os.tmpdir(), 'bloom-bench-test-'));
  t.after(() => fs.rmSync(unknown, { recursive: true, force: true }));
  await unknownSpecies(unknown, 10);
  const { code, stdout, stderr } = await runBench([
    '--quick',
    '--json',
    '--synthetic',
    '--retrain',
    '--learn',
    '--learn-photos',
    unknown,
    '--learn-name',
    'Yellow ellipse',
    '--learn-count',
    '30',
  ]);
  assert.equal(code, 0, `bench failed:\n${stderr}`);
  const r = JSON.parse(stdout) as BenchResult;
  assert.equal(r.format, 'bloom-bench/1');
  assert.equal(r.synthetic, true);
  assert.match(r.sources.notes.join('\n'), /synthetic/);
  assert.match(stderr, /synthetic/, 'says so on stderr too');
  positive(r.seconds, 'seconds');
  positive(r.machine.cpus, 'machine.cpus');

  // Extraction: 2 backbones × 1 and 2 workers, decode included.
  assert.equal(r.extraction.skipped, false);
  if (r.extraction.skipped) return;
  assert.deepEqual(
    r.extraction.runs.map((x) => `${x.backbone}/${x.workers}`),
    ['mobilenet_v1_0.75_224/1', 'mobilenet_v1_0.75_224/2', 'densenet121/1', 'densenet121/2'],
  );
  for (const x of r.extraction.runs) {
    const at = `${x.backbone}/${x.workers}w`;
    positive(x.startupMs, `${at} startupMs`);
    for (const k of ['p50', 'p95', 'max', 'mean'] as const) positive(x.batch1?.latencyMs[k], `${at} batch1.latencyMs.${k}`);
    positive(x.batch1?.decodeMs.p50, `${at} decodeMs.p50`);
    positive(x.batch1?.embedMs.p50, `${at} embedMs.p50`);
    positive(x.batch1?.twoStreams.msPerImage, `${at} twoStreams.msPerImage`);
    positive(x.batch1?.twoStreams.imagesPerSecond, `${at} twoStreams.imagesPerSecond`);
    positive(x.batch16?.msPerImage, `${at} batch16.msPerImage`);
    positive(x.batch16?.imagesPerSecond, `${at} batch16.imagesPerSecond`);
  }
  assert.equal(r.extraction.speedup.length, 2);
  for (const s of r.extraction.speedup) {
    positive(s.batch1Streams, `speedup ${s.backbone} batch1Streams`);
    positive(s.batch16, `speedup ${s.backbone} batch16`);
    assert.equal(s.target, 1.7);
  }
  const wt = r.extraction.wasmThreads;
  assert.equal(wt.skipped, false);
  if (!wt.skipped) {
    assert.equal(wt.requested, 2);
    assert.equal(typeof wt.finding, 'string');
    // Either a finding (not supported: no timing) or timed runs: never a silent nothing.
    if (wt.multithreadSupported === false) assert.equal(wt.runs.length, 0);
    if (wt.measured) for (const x of wt.runs) positive(x.batch16?.msPerImage, 'wasm threads batch16');
  }

  // End to end: alone and burst, with 1 and 2 workers; the burst is fully answered.
  assert.equal(r.endToEnd.skipped, false);
  if (r.endToEnd.skipped) return;
  assert.deepEqual(
    r.endToEnd.runs.map((x) => x.workers),
    [1, 2],
  );
  for (const x of r.endToEnd.runs) {
    const at = `e2e ${x.workers}w`;
    for (const k of ['p50', 'p95', 'max'] as const) {
      positive(x.alone.latencyMs[k], `${at} alone.${k}`);
      positive(x.burst.latencyMs[k], `${at} burst.${k}`);
    }
    assert.equal(x.alone.answered, x.alone.posted);
    assert.ok(x.burst.posted >= 20);
    assert.equal(x.burst.answered, x.burst.posted, `${at}: every burst photo answered`);
    assert.equal(x.burst.identified, x.burst.posted, `${at}: every burst photo identified (no "busy")`);
    positive(x.burst.imagesPerSecond, `${at} imagesPerSecond`);
    positive(x.burst.embedBatches, `${at} embedBatches`);
    assert.equal(x.botProblems, 0, `${at}: bot warnings ${x.botProblemSamples.join(' | ')}`);
  }

  // /retrain cold then warm on the same temp cache.
  assert.equal(r.retrain.skipped, false);
  if (r.retrain.skipped) return;
  assert.deepEqual(
    r.retrain.runs.map((x) => x.kind),
    ['cold', 'warm'],
  );
  for (const x of r.retrain.runs) {
    positive(x.seconds, `retrain ${x.kind} seconds`);
    positive(x.trainImages, `retrain ${x.kind} trainImages`);
    assert.ok(['succeeded', 'rejected'].includes(x.status), `retrain ${x.kind}: ${x.status} ${x.message}`);
  }
  assert.ok(r.retrain.runs[0]!.featuresExtracted > 0, 'cold extracts');
  assert.equal(r.retrain.runs[1]!.featuresExtracted, 0, 'warm extracts nothing');

  // /retrain learning the contributions: cold then warm on the same temp cache, the new species added.
  assert.equal(r.learn.skipped, false);
  if (r.learn.skipped) return;
  assert.equal(r.learn.contributions.total, 30);
  assert.deepEqual(r.learn.contributions.newSpecies, { dir: unknown, name: 'Yellow ellipse', label: 'c1', photos: 10 });
  assert.equal(r.learn.contributions.known.photos, 20);
  assert.deepEqual(r.learn.targets, { coldS: 600, warmS: 120 });
  assert.deepEqual(r.learn.meetsTarget, { cold: null, warm: null }, 'synthetic figures are not judged');
  assert.deepEqual(
    r.learn.runs.map((x) => x.kind),
    ['cold', 'warm'],
  );
  for (const x of r.learn.runs) {
    const at = `learn ${x.kind}`;
    positive(x.seconds, `${at} seconds`);
    positive(x.learnSeconds, `${at} learnSeconds`);
    for (const k of ['startS', 'statisticsS', 'contributionsS', 'validS', 'trainS'] as const)
      assert.equal(typeof x.phases[k], 'number', `${at} phases.${k}`);
    // The bot's /retrain embeds with BLOOM_WORKERS pool workers: two by default on two cores.
    assert.equal(x.workers, Number(process.env.BLOOM_WORKERS || Math.min(2, os.availableParallelism())), `${at} workers`);
    for (const k of ['accuracy', 'validAccuracy', 'knownAccuracy'] as const) {
      assert.equal(typeof x.before[k], 'number', `${at} before.${k}`);
      assert.equal(typeof x.after[k], 'number', `${at} after.${k}`);
    }
    assert.equal(typeof x.passesGate, 'boolean');
    assert.deepEqual(
      x.added.map((a) => [a.label, a.name]),
      [['c1', 'Yellow ellipse']],
    );
    assert.equal(x.learnt + x.heldOut, 30);
  }
  const [cold, warm] = r.learn.runs;
  assert.ok(cold!.extracted > 0, 'cold extracts');
  assert.equal(warm!.extracted, 0, 'warm extracts nothing');
  assert.equal(warm!.cached, cold!.extracted + cold!.cached, 'warm finds every photo cold extracted');

  positive(r.memory.peakRssMb, 'memory.peakRssMb');
  positive(r.memory.maxRssMb, 'memory.maxRssMb');
  assert.ok(Object.keys(r.memory.byPhase).some((k) => k.startsWith('end-to-end')));
  assert.ok('learn cold' in r.memory.byPhase && 'learn warm' in r.memory.byPhase);
});

test('npm run bench -- --learn without --learn-photos says what it needs', { timeout: 60_000 }, async () => {
  const { code, stderr } = await runBench(['--quick', '--synthetic', '--no-extraction', '--no-e2e', '--learn']);
  assert.notEqual(code, 0);
  assert.match(stderr, /--learn needs --learn-photos DIR/);
});
