// Feature extraction speed through the EmbedderPool, decode included:
// JPEG bytes → prepareImage (sharp) → pool.embed, as the bot and retrain do it.
import type { BackendName } from '../classifier/backend.ts';
import { EmbedderPool } from '../classifier/embedderPool.ts';
import type { WasmThreadInfo } from '../classifier/embedWorker.ts';
import type { BackboneLocations } from '../classifier/featureExtractor.ts';
import { prepareImage } from '../classifier/images.ts';
import { now, summarise, type Summary } from './stats.ts';

export interface ExtractionIterations {
  /** Single images one after another (latency). */
  latency: number;
  /** Images per stream in the two-stream throughput run. */
  perStream: number;
  /** Measured batches of 16 (after one warm-up batch). */
  batches: number;
}

export const ITERATIONS = {
  full: { latency: 24, perStream: 16, batches: 4 },
  quick: { latency: 4, perStream: 3, batches: 1 },
} satisfies Record<string, ExtractionIterations>;

export const BATCH = 16;
export const STREAMS = 2;

export interface ExtractionOptions {
  backbone: string;
  arch: string;
  loc: BackboneLocations;
  workers: number;
  wasmThreads?: number;
  backend?: BackendName;
  photos: Buffer[];
  iterations: ExtractionIterations;
  /** Called with the started pool before timing; return false to skip the timing (e.g. wasm threads unsupported). */
  precheck?: (pool: EmbedderPool) => boolean;
}

export interface Throughput {
  images: number;
  wallMs: number;
  /** wallMs / images: the cost of one image when the pool is kept busy. */
  msPerImage: number;
  imagesPerSecond: number;
}

export interface ExtractionRun {
  backbone: string;
  arch: string;
  workers: number;
  wasmThreads: number;
  backend: string;
  wasm?: WasmThreadInfo;
  inputSize: number;
  featureSize: number;
  /** Pool start: load the model in every worker plus one warm-up inference. */
  startupMs: number;
  /** Timing was skipped by the precheck. */
  skipped?: boolean;
  batch1?: {
    /** One image at a time, nothing else running: what one user waits for extraction. */
    latencyMs: Summary;
    decodeMs: Summary;
    embedMs: Summary;
    /** Two concurrent single-image streams (how the bot feeds the pool). */
    twoStreams: Throughput;
  };
  batch16?: Throughput & { batches: number };
}

const throughput = (images: number, wallMs: number): Throughput => ({
  images,
  wallMs,
  msPerImage: wallMs / images,
  imagesPerSecond: (1000 * images) / wallMs,
});

export async function measureExtraction(o: ExtractionOptions): Promise<ExtractionRun> {
  const t0 = now();
  const pool = await EmbedderPool.start({ arch: o.arch, loc: o.loc, workers: o.workers, backend: o.backend, wasmThreads: o.wasmThreads });
  const base: ExtractionRun = {
    backbone: o.backbone,
    arch: o.arch,
    workers: o.workers,
    wasmThreads: o.wasmThreads ?? 1,
    backend: pool.backend,
    wasm: pool.wasm,
    inputSize: pool.inputSize,
    featureSize: pool.specs.reduce((n, s) => n + s.featureSize, 0),
    startupMs: now() - t0,
  };
  try {
    if (o.precheck && !o.precheck(pool)) return { ...base, skipped: true };
    let k = 0;
    const next = () => o.photos[k++ % o.photos.length]!;
    const prep = (b: Buffer) => prepareImage(b, { size: pool.inputSize });
    const one = async () => pool.embed([await prep(next())]);
    const batch = async () => pool.embed(await Promise.all(Array.from({ length: BATCH }, () => prep(next()))));

    // Warm-up: each worker compiled batch-1 kernels at start; this pays sharp's and the first batch's set-up.
    await Promise.all(Array.from({ length: o.workers }, one));
    await batch();

    const total: number[] = [],
      decode: number[] = [],
      embed: number[] = [];
    for (let i = 0; i < o.iterations.latency; i++) {
      const a = now();
      const x = await prep(next());
      const b = now();
      await pool.embed([x]);
      const c = now();
      total.push(c - a);
      decode.push(b - a);
      embed.push(c - b);
    }

    let t = now();
    await Promise.all(
      Array.from({ length: STREAMS }, async () => {
        for (let i = 0; i < o.iterations.perStream; i++) await one();
      }),
    );
    const twoStreams = throughput(STREAMS * o.iterations.perStream, now() - t);

    t = now();
    for (let i = 0; i < o.iterations.batches; i++) await batch();
    const b16 = throughput(BATCH * o.iterations.batches, now() - t);

    return {
      ...base,
      batch1: { latencyMs: summarise(total), decodeMs: summarise(decode), embedMs: summarise(embed), twoStreams },
      batch16: { ...b16, batches: o.iterations.batches },
    };
  } finally {
    await pool.close();
  }
}

export interface Speedup {
  backbone: string;
  /** Two single-image streams: 2 workers' throughput over 1 worker's. */
  batch1Streams: number;
  /** Batches of 16: 2 workers' throughput over 1 worker's. */
  batch16: number;
  target: number;
  meetsTarget: { batch1Streams: boolean; batch16: boolean };
}

export const SPEEDUP_TARGET = 1.7;

/** 2-worker over 1-worker extraction throughput, per backbone, where both were measured. */
export function speedups(runs: ExtractionRun[]): Speedup[] {
  const out: Speedup[] = [];
  const plain = runs.filter((r) => r.wasmThreads === 1 && !r.skipped);
  for (const one of plain.filter((r) => r.workers === 1)) {
    const two = plain.find((r) => r.workers === 2 && r.backbone === one.backbone);
    if (!two?.batch1 || !two.batch16 || !one.batch1 || !one.batch16) continue;
    const batch1Streams = two.batch1.twoStreams.imagesPerSecond / one.batch1.twoStreams.imagesPerSecond;
    const batch16 = two.batch16.imagesPerSecond / one.batch16.imagesPerSecond;
    out.push({
      backbone: one.backbone,
      batch1Streams,
      batch16,
      target: SPEEDUP_TARGET,
      meetsTarget: { batch1Streams: batch1Streams >= SPEEDUP_TARGET, batch16: batch16 >= SPEEDUP_TARGET },
    });
  }
  return out;
}
