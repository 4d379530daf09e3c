// The one place that builds an embedder: a pool of worker threads or this
// thread, by one rule. The bot, the command-line tools, the retrain worker, the
// demo and the bench all start theirs here.
import type { BackendName } from './backendNames.ts';
import { findPreset, splitArch, type BackboneSpec } from './backbones.ts';
import { LazyEmbedder, LocalEmbedder, type Embedder } from './embedder.ts';
import { EmbedderPool, type PoolEvent } from './embedderPool.ts';
import { loadFeatureExtractor, type BackboneLocations } from './featureExtractor.ts';

export interface EmbedderChoice {
  /** Feature-extraction worker threads asked for (BLOOM_WORKERS, --workers); 0 = this thread. */
  workers: number;
  /**
   * True when this thread has other work to keep answering (the bot's Discord
   * thread): then even one worker is worth its thread. A CLI or the retrain
   * worker has nothing else to do, so one worker is just this thread.
   */
  keepThreadFree?: boolean;
}

export type EmbedderKind = 'pool' | 'local';

/** The rule: a pool for two or more workers, or for one when this thread must stay free; else this thread. */
export function embedderKind({ workers, keepThreadFree = false }: EmbedderChoice): EmbedderKind {
  if (workers > 1) return 'pool';
  return workers === 1 && keepThreadFree ? 'pool' : 'local';
}

export interface MakeEmbedderOptions extends EmbedderChoice {
  arch: string;
  loc: BackboneLocations;
  /** The pool's workers start this backend (they fall back as initBackend does). */
  backend?: BackendName;
  /**
   * Start on first use when every backbone is a preset (their shapes are known
   * without loading them): a retrain on a warm feature cache then never loads one.
   */
  lazy?: boolean;
  /** A pool's limit per model call (a hung worker is replaced); none when not given. */
  timeoutMs?: number;
  /** A pool's worker deaths, timeouts and replacements, for the log. */
  onEvent?: (e: PoolEvent) => void;
}

/** Every backbone's spec when all of arch's parts are presets, else undefined. */
function presetSpecs(arch: string): BackboneSpec[] | undefined {
  const presets = splitArch(arch).map(findPreset);
  return presets.every((p) => p !== undefined) ? presets.map((p) => ({ ...p })) : undefined;
}

export async function makeEmbedder(o: MakeEmbedderOptions): Promise<Embedder> {
  const start = async (): Promise<Embedder> =>
    embedderKind(o) === 'pool'
      ? EmbedderPool.start({ arch: o.arch, loc: o.loc, workers: o.workers, backend: o.backend, timeoutMs: o.timeoutMs, onEvent: o.onEvent })
      : new LocalEmbedder(await loadFeatureExtractor(o.arch, o.loc));
  const specs = o.lazy ? presetSpecs(o.arch) : undefined;
  return specs ? new LazyEmbedder(specs, specs[0]!.inputSize, start) : start();
}
