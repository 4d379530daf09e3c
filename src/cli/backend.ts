// Start-up of the command-line tools: the TF.js backend (BLOOM_BACKEND, --gpu)
// and where backbones are found or downloaded to.
import { BACKENDS, initBackend, isBackendName, type BackendInfo } from '../classifier/backend.ts';
import type { BackboneLocations } from '../classifier/featureExtractor.ts';
import { defaultPaths } from '../paths.ts';
import { log } from './log.ts';
import { fetchWithProgress } from './progress.ts';

export async function startBackend(opts: { gpu?: boolean; wasmThreads?: number } = {}): Promise<BackendInfo> {
  const forced = process.env.BLOOM_BACKEND;
  if (forced && !isBackendName(forced)) throw new Error(`BLOOM_BACKEND must be one of ${BACKENDS.join(', ')} (got "${forced}")`);
  return initBackend({ prefer: forced && isBackendName(forced) ? forced : undefined, gpu: opts.gpu, wasmThreads: opts.wasmThreads, log });
}

export function backboneLocations(env = process.env): BackboneLocations {
  const p = defaultPaths(env);
  return { backboneDir: p.backboneDir, cacheDir: p.cacheDir, fetchFile: env.BLOOM_OFFLINE === '1' ? undefined : fetchWithProgress };
}
