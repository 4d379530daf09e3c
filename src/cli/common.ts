// Shared plumbing of the command-line tools: option spelling, backend start,
// backbone locations with downloads, progress output on stderr.
import cliProgress from 'cli-progress';
import { backendInfo, initBackend, isBackendName, type BackendInfo } from '../classifier/backend.ts';
import { LocalEmbedder, type Embedder } from '../classifier/embedder.ts';
import { EmbedderPool } from '../classifier/embedderPool.ts';
import { loadFeatureExtractor } from '../classifier/featureExtractor.ts';
import type { BackboneLocations } from '../classifier/featureExtractor.ts';
import type { FetchFile } from '../classifier/modelFiles.ts';
import { createProgressReporter, downloadFile } from '../net/index.ts';
import { RateEstimator } from './eta.ts';
import { defaultPaths } from '../paths.ts';

/** Accepts the seed project's underscore spellings (--hidden_units) as aliases. */
export function normaliseArgv(argv: string[]): string[] {
  return argv.map((a) => (a.startsWith('--') ? a.replace(/^--([^=]+)/, (_, name: string) => `--${name.replace(/_/g, '-')}`) : a));
}

export const log = (msg: string) => process.stderr.write(msg + '\n');

export async function startBackend(opts: { gpu?: boolean; wasmThreads?: number } = {}): Promise<BackendInfo> {
  const forced = process.env.BLOOM_BACKEND;
  if (forced && !isBackendName(forced)) throw new Error(`BLOOM_BACKEND must be one of tensorflow-gpu, tensorflow, wasm, cpu (got "${forced}")`);
  return initBackend({ prefer: forced && isBackendName(forced) ? forced : undefined, gpu: opts.gpu, wasmThreads: opts.wasmThreads, log });
}

export const fetchWithProgress: FetchFile = async (url, dest, label) => {
  const bar = createProgressReporter()(`Downloading ${label}`);
  try {
    await downloadFile(url, dest, { onProgress: bar.update });
  } finally {
    bar.done();
  }
};

export function backboneLocations(env = process.env): BackboneLocations {
  const p = defaultPaths(env);
  return { backboneDir: p.backboneDir, cacheDir: p.cacheDir, fetchFile: env.BLOOM_OFFLINE === '1' ? undefined : fetchWithProgress };
}

/** A bar per phase when stderr is a terminal; otherwise a line every 10% or every minute, with the recent rate and time left. */
export function phaseProgress(): (label: string, done: number, total: number) => void {
  let bar: cliProgress.SingleBar | undefined;
  let current = '';
  let lastPct = -1;
  let lastLine = 0;
  let eta = new RateEstimator();
  return (label, done, total) => {
    if (label !== current) {
      bar?.stop();
      bar = undefined;
      current = label;
      lastPct = -1;
      eta = new RateEstimator();
      if (process.stderr.isTTY) {
        bar = new cliProgress.SingleBar({ format: `${label} [{bar}] {value}/{total} | ETA {eta_formatted}`, stream: process.stderr, hideCursor: true }, cliProgress.Presets.shades_classic);
        bar.start(total, 0);
      }
    }
    if (bar) {
      bar.update(done);
      if (done >= total) { bar.stop(); bar = undefined; }
      return;
    }
    eta.update(done);
    const pct = Math.floor((10 * done) / total) * 10;
    if (pct !== lastPct || Date.now() - lastLine >= 60_000) {
      lastPct = pct;
      lastLine = Date.now();
      log(`${label}: ${done}/${total} (${pct}%)${done < total ? eta.describe(total) : ''}`);
    }
  };
}

/** Worker pool when asked for more than one worker, else in-process extraction. */
export async function makeEmbedder(arch: string, workers: number, loc = backboneLocations()): Promise<Embedder> {
  if (workers > 1) return EmbedderPool.start({ arch, loc, workers, backend: backendInfo()?.name });
  return new LocalEmbedder(await loadFeatureExtractor(arch, loc));
}

export function fail(err: unknown): never {
  log(`error: ${(err as Error)?.message ?? String(err)}`);
  process.exit(1);
}
