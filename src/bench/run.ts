// The benchmark of issue 5: extraction speed per backbone and worker count,
// end-to-end latency through the Discord emulator, /retrain wall time and peak
// memory. Builds one JSON document; scripts/bench.ts prints it.
import * as tf from '../classifier/tf.ts';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { initBackend } from '../classifier/backend.ts';
import { readMeta, resolveCheckpointDir } from '../classifier/checkpoint.ts';
import type { Config } from '../config.ts';
import { measureEndToEnd, type EndToEndRun } from './endToEnd.ts';
import { ITERATIONS, measureExtraction, speedups, type ExtractionRun, type Speedup } from './extraction.ts';
import { MemorySampler, type MemoryReport } from './memory.ts';
import { buildContributions, LEARN_TARGETS, measureLearn, type LearnRun } from './learn.ts';
import { measureRetrain, type RetrainRun } from './retrain.ts';
import { BenchSources, pick, type BackboneSource, type ModelSource } from './sources.ts';

export interface BenchOptions {
  config: Config;
  quick: boolean;
  synthetic: boolean;
  workers: number[];
  backbones: string[];
  extraction: boolean;
  endToEnd: boolean;
  /** Threads for the single-worker multi-threaded wasm run; 0 skips it. */
  wasmThreads: number;
  /** Cold (fresh temp cache) then warm (same cache) /retrain. */
  retrain: boolean;
  /** Warm /retrain on the project's feature cache. */
  retrainWarmOnly: boolean;
  /** Images per class for the retrain runs (undefined: the whole set). */
  retrainSubset?: number;
  /** A learning /retrain of `count` contributions: the photos of one species the model does not know, topped up with known ones. */
  learn?: { photosDir: string; name: string; count: number };
  alone?: number;
  burst?: number;
  users?: number;
  log: (msg: string) => void;
}

type Skipped = { skipped: true; note: string };

export interface WasmThreadsFinding {
  skipped: false;
  requested: number;
  backend: string;
  /** WASM_HAS_MULTITHREAD_SUPPORT inside the pool worker (null when the backend is not wasm). */
  multithreadSupported: boolean | null;
  /** Threads XNNPACK actually uses after setThreadsCount(requested). */
  threads: number | null;
  measured: boolean;
  finding: string;
  runs: ExtractionRun[];
}

export interface BenchResult {
  format: 'bloom-bench/1';
  startedAt: string;
  seconds: number;
  /** True when anything measured is a synthetic stand-in (see sources.notes). */
  synthetic: boolean;
  machine: {
    cpus: number;
    cpuModel: string;
    memoryMb: number;
    node: string;
    platform: string;
    tfjs: string;
    /** 1-minute load average at start and end: a busy machine makes every figure slower. */
    loadAverage: { start: number; end: number };
  };
  options: {
    quick: boolean;
    synthetic: boolean;
    workers: number[];
    backbones: string[];
    wasmThreads: number;
    retrain: boolean;
    retrainWarmOnly: boolean;
    retrainSubset: number | null;
    learn: { photosDir: string; name: string; count: number } | null;
  };
  sources: {
    backbones: BackboneSource[];
    photos: { synthetic: boolean; dir: string; count: number } | null;
    model: Omit<ModelSource, 'photos'> | null;
    notes: string[];
  };
  extraction:
    Skipped | { skipped: false; backend: string; runs: ExtractionRun[]; speedup: Speedup[]; wasmThreads: WasmThreadsFinding | Skipped };
  endToEnd: Skipped | { skipped: false; model: string; photos: { synthetic: boolean; dir: string }; runs: EndToEndRun[] };
  retrain: Skipped | { skipped: false; runs: RetrainRun[]; notes: string[] };
  learn: Skipped | LearnPhase;
  memory: MemoryReport;
}

export interface LearnPhase {
  skipped: false;
  /** The live model learning (what the bot would load). */
  model: string;
  contributions: {
    total: number;
    newSpecies: { dir: string; name: string; label: string; photos: number };
    known: { photos: number; species: number };
  };
  minPhotos: number;
  runs: LearnRun[];
  targets: { coldS: number; warmS: number };
  /** Null when synthetic (not judged). */
  meetsTarget: { cold: boolean | null; warm: boolean | null };
  notes: string[];
}

const readAll = (files: string[]) => files.map((f) => fs.readFileSync(f));

function wasmFinding(requested: number, run: ExtractionRun): Omit<WasmThreadsFinding, 'runs' | 'measured' | 'skipped'> {
  const w = run.wasm;
  if (!w)
    return {
      requested,
      backend: run.backend,
      multithreadSupported: null,
      threads: null,
      finding: `the backend is ${run.backend}, not wasm: wasm threads do not apply`,
    };
  const finding =
    w.multithreadSupported && w.threads > 1
      ? `multi-threaded wasm works here: ${w.threads} threads in one worker`
      : `not supported in Node: WASM_HAS_MULTITHREAD_SUPPORT is ${w.multithreadSupported} inside the worker and XNNPACK runs ${w.threads} thread(s) after setThreadsCount(${requested}) ` +
        '(tfjs-backend-wasm returns false for this flag whenever IS_NODE — tensorflow/tfjs#3830), so one pool worker per core is the only way to use both cores';
  return { requested, backend: run.backend, multithreadSupported: w.multithreadSupported, threads: w.threads, finding };
}

async function extraction(
  o: BenchOptions,
  src: BenchSources,
  mem: MemorySampler,
  out: BenchResult['sources'],
): Promise<BenchResult['extraction']> {
  const its = o.quick ? ITERATIONS.quick : ITERATIONS.full;
  const photos = await src.photos();
  const chosen = pick(photos.files, o.quick ? 16 : 32);
  out.photos = { synthetic: photos.synthetic, dir: photos.dir, count: chosen.length };
  const bytes = readAll(chosen);
  const runs: ExtractionRun[] = [];
  const backbones: BackboneSource[] = [];
  for (const name of o.backbones) backbones.push(await src.backbone(name));
  out.backbones = backbones;
  for (const b of backbones) {
    for (const workers of o.workers) {
      mem.enter(`extraction ${b.name} ${workers}w`);
      o.log(`Extraction: ${b.name}${b.synthetic ? ' (synthetic stand-in)' : ''}, ${workers} worker(s)…`);
      runs.push(
        await measureExtraction({
          backbone: b.name,
          arch: b.arch,
          loc: src.loc,
          workers,
          backend: o.config.backend,
          photos: bytes,
          iterations: its,
        }),
      );
    }
  }
  let wasmThreads: WasmThreadsFinding | Skipped = { skipped: true, note: 'not requested (--wasm-threads 0)' };
  if (o.wasmThreads > 1) {
    const found: ExtractionRun[] = [];
    let finding: Omit<WasmThreadsFinding, 'runs' | 'measured' | 'skipped'> | undefined;
    for (const b of backbones) {
      mem.enter(`extraction ${b.name} 1w×${o.wasmThreads}t`);
      o.log(`Extraction: ${b.name}, 1 worker with ${o.wasmThreads} wasm threads…`);
      const run = await measureExtraction({
        backbone: b.name,
        arch: b.arch,
        loc: src.loc,
        workers: 1,
        wasmThreads: o.wasmThreads,
        backend: o.config.backend,
        photos: bytes,
        iterations: its,
        precheck: (pool) => !!pool.wasm?.multithreadSupported && pool.wasm.threads > 1,
      });
      finding ??= wasmFinding(o.wasmThreads, run);
      if (run.skipped) break;
      found.push(run);
    }
    wasmThreads = { skipped: false, ...finding!, measured: found.length > 0, runs: found };
  }
  return { skipped: false, backend: runs[0]?.backend ?? 'unknown', runs, speedup: speedups(runs), wasmThreads };
}

async function endToEnd(o: BenchOptions, model: ModelSource, mem: MemorySampler): Promise<BenchResult['endToEnd']> {
  const alone = o.alone ?? (o.quick ? 5 : 20);
  const burst = o.burst ?? (o.quick ? 20 : 50);
  const warmup = o.quick ? 1 : 2;
  const photos = readAll(pick(model.photos.files, warmup + alone + burst));
  const runs: EndToEndRun[] = [];
  for (const workers of o.workers) {
    mem.enter(`end-to-end ${workers}w`);
    o.log(`End to end: ${workers} worker(s)…`);
    runs.push(
      await measureEndToEnd({
        workers,
        photos,
        warmup,
        alone,
        burst,
        users: o.users ?? (o.quick ? 5 : 10),
        checkpointDir: model.checkpointDir,
        dataDir: model.dataDir,
        backboneDir: model.backboneDir,
        backboneCache: model.backboneCache,
        backend: o.config.backend,
        replyTimeoutMs: Math.max(60_000, burst * 3000),
        log: o.log,
      }),
    );
  }
  return {
    skipped: false,
    model: `${model.version} (${model.arch}, ${model.kind})`,
    photos: { synthetic: model.photos.synthetic, dir: model.photos.dir },
    runs,
  };
}

async function retrain(o: BenchOptions, src: BenchSources, model: ModelSource, mem: MemorySampler): Promise<BenchResult['retrain']> {
  const notes: string[] = [];
  const runs: RetrainRun[] = [];
  const workers = Math.max(1, o.config.workers);
  const base = {
    checkpointDir: model.checkpointDir,
    dataDir: model.dataDir,
    backboneDir: model.backboneDir,
    backboneCache: model.backboneCache,
    workers,
    backend: o.config.backend,
    maxPerClass: o.retrainSubset,
    log: o.log,
  };
  const coldAndWarm = o.retrain || (o.retrainWarmOnly && model.kind === 'synthetic');
  if (o.retrainWarmOnly && model.kind === 'synthetic')
    notes.push('synthetic data: --retrain-warm-only runs cold then warm on a temp cache instead of the project cache');
  if (coldAndWarm) {
    const cache = path.join(src.tmp, 'retrain-features');
    for (const kind of ['cold', 'warm'] as const) {
      mem.enter(`retrain ${kind}`);
      o.log(`/retrain ${kind} (feature cache ${cache})…`);
      runs.push(await measureRetrain({ ...base, kind, featureCacheDir: cache }));
    }
  }
  if (o.retrainWarmOnly && model.kind !== 'synthetic') {
    mem.enter('retrain warm-project-cache');
    o.log(`/retrain warm on the project cache ${o.config.featureCache}…`);
    const run = await measureRetrain({ ...base, kind: 'warm-project-cache', featureCacheDir: o.config.featureCache });
    if (run.featuresExtracted > 0)
      notes.push(
        `the project cache was not fully warm: ${run.featuresExtracted} feature vectors were extracted during the "warm" run (now cached; run again for a warm figure)`,
      );
    runs.push(run);
  }
  for (const r of runs)
    if (r.status === 'rejected')
      notes.push(
        `${r.kind}: the new model scored below the live one and was rejected (timing still covers the whole run; a swap adds little)`,
      );
  return { skipped: false, runs, notes };
}

async function learnPhase(
  o: BenchOptions,
  l: NonNullable<BenchOptions['learn']>,
  src: BenchSources,
  model: ModelSource,
  mem: MemorySampler,
): Promise<LearnPhase> {
  const meta = readMeta(resolveCheckpointDir(model.checkpointDir));
  const contributions = await buildContributions({
    contribDir: path.join(src.tmp, 'learn-contributions'),
    photosDir: l.photosDir,
    name: l.name,
    count: l.count,
    dataDir: model.dataDir,
    liveLabels: meta.labels,
  });
  const notes: string[] = [];
  if (meta.labels.includes(contributions.newSpecies.label))
    notes.push(
      `the live model already knows a species labelled ${contributions.newSpecies.label}: these photos teach it, they add nothing`,
    );
  if (contributions.approved.length < l.count)
    notes.push(`${contributions.approved.length} contributions instead of ${l.count}: not enough distinct photos`);
  const cache = path.join(src.tmp, 'learn-features');
  const runs: LearnRun[] = [];
  // The bot's /retrain: its training worker embeds with config.workers pool workers (two here).
  const workers = Math.max(1, o.config.workers);
  for (const kind of ['cold', 'warm'] as const) {
    mem.enter(`learn ${kind}`);
    o.log(`/retrain learning ${contributions.approved.length} contributions, ${kind} (feature cache ${cache})…`);
    runs.push(
      await measureLearn({
        kind,
        checkpointDir: model.checkpointDir,
        dataDir: model.dataDir,
        featureCacheDir: cache,
        saveDir: path.join(src.tmp, `learn-${kind}`),
        backboneDir: model.backboneDir,
        backboneCache: model.backboneCache,
        workers,
        backend: o.config.backend,
        minPhotos: o.config.newSpeciesMinPhotos,
        contributions,
        log: o.log,
      }),
    );
  }
  const synthetic = model.kind === 'synthetic';
  const meets = (kind: 'cold' | 'warm', target: number) => {
    const run = runs.find((r) => r.kind === kind);
    return synthetic || !run ? null : run.seconds <= target;
  };
  for (const r of runs) if (!r.passesGate) notes.push(`${r.kind}: /retrain would keep the live model (the candidate fails the gate)`);
  return {
    skipped: false,
    model: `${model.version} (${model.arch}, ${model.kind})`,
    contributions: { total: contributions.approved.length, newSpecies: contributions.newSpecies, known: contributions.known },
    minPhotos: o.config.newSpeciesMinPhotos,
    runs,
    targets: { ...LEARN_TARGETS },
    meetsTarget: { cold: meets('cold', LEARN_TARGETS.coldS), warm: meets('warm', LEARN_TARGETS.warmS) },
    notes,
  };
}

export async function runBench(o: BenchOptions): Promise<BenchResult> {
  const startedAt = new Date();
  const t0 = Date.now();
  const mem = new MemorySampler(100).start();
  const src = new BenchSources({ config: o.config, synthetic: o.synthetic, fallbackPerClass: o.quick ? 3 : 5, log: o.log });
  const result: BenchResult = {
    format: 'bloom-bench/1',
    startedAt: startedAt.toISOString(),
    seconds: 0,
    synthetic: false,
    machine: {
      cpus: os.availableParallelism(),
      cpuModel: os.cpus()[0]?.model ?? 'unknown',
      memoryMb: Math.round(os.totalmem() / 2 ** 20),
      node: process.version,
      platform: `${process.platform}-${process.arch}`,
      tfjs: tf.version_core,
      loadAverage: { start: os.loadavg()[0]!, end: NaN },
    },
    options: {
      quick: o.quick,
      synthetic: o.synthetic,
      workers: o.workers,
      backbones: o.backbones,
      wasmThreads: o.wasmThreads,
      retrain: o.retrain,
      retrainWarmOnly: o.retrainWarmOnly,
      retrainSubset: o.retrainSubset ?? null,
      learn: o.learn ?? null,
    },
    sources: { backbones: [], photos: null, model: null, notes: src.notes },
    extraction: { skipped: true, note: 'not requested (--no-extraction)' },
    endToEnd: { skipped: true, note: 'not requested (--no-e2e)' },
    retrain: {
      skipped: true,
      note: 'not requested: --retrain (cold + warm, long: ~10+ min on the full set here), --retrain-subset N (N photos per class), --retrain-warm-only (warm on the project cache; the ≤ 60 s target)',
    },
    learn: {
      skipped: true,
      note: 'not requested: --learn --learn-photos DIR (a /retrain learning 100 contributions, cold then warm; targets ≤ 600 s and ≤ 120 s)',
    },
    memory: undefined as unknown as MemoryReport,
  };
  try {
    await initBackend({ prefer: o.config.backend });
    if (o.extraction) result.extraction = await extraction(o, src, mem, result.sources);
    const needModel = o.endToEnd || o.retrain || o.retrainWarmOnly || !!o.learn;
    if (needModel) {
      mem.enter('model');
      const model = await src.defaultModel();
      const { photos: _photos, ...rest } = model;
      result.sources.model = rest;
      if (o.endToEnd) result.endToEnd = await endToEnd(o, model, mem);
      if (o.retrain || o.retrainWarmOnly) result.retrain = await retrain(o, src, model, mem);
      if (o.learn) result.learn = await learnPhase(o, o.learn, src, model, mem);
    }
  } finally {
    result.memory = mem.stop();
    src.cleanup();
  }
  result.synthetic =
    result.sources.backbones.some((b) => b.synthetic) || !!result.sources.photos?.synthetic || result.sources.model?.kind === 'synthetic';
  result.machine.loadAverage.end = os.loadavg()[0]!;
  result.seconds = (Date.now() - t0) / 1000;
  return result;
}
