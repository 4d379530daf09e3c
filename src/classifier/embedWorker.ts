// Worker-thread side of the EmbedderPool: one TF.js instance, one backbone set.
import { parentPort, workerData } from 'node:worker_threads';
import { initBackend, type BackendName } from './backend.ts';
import { loadFeatureExtractor, type BackboneLocations } from './featureExtractor.ts';

export interface EmbedWorkerData {
  arch: string;
  loc: Omit<BackboneLocations, 'fetchFile'>;
  backend?: BackendName;
}

export type EmbedRequest = { id: number; images: Uint8Array[]; which?: number[] };
export type EmbedReply =
  | { type: 'ready'; specs: import('./backbones.ts').BackboneSpec[]; inputSize: number; backend: string }
  | { type: 'result'; id: number; features: Float32Array[] }
  | { type: 'error'; id: number; message: string };

async function main(): Promise<void> {
  const d = workerData as EmbedWorkerData;
  // One thread per worker: the pool, not wasm threads, spreads work over the cores.
  const info = await initBackend({ prefer: d.backend, wasmThreads: 1 });
  const fx = await loadFeatureExtractor(d.arch, d.loc);
  // Warm-up: the first inference compiles kernels; pay it here, not on a user's photo.
  fx.extract([new Uint8Array(fx.inputSize * fx.inputSize * 3)]);
  parentPort!.postMessage({ type: 'ready', specs: fx.specs, inputSize: fx.inputSize, backend: info.name } satisfies EmbedReply);
  parentPort!.on('message', (req: EmbedRequest) => {
    try {
      const features = fx.extract(req.images, req.which);
      parentPort!.postMessage({ type: 'result', id: req.id, features } satisfies EmbedReply, features.map((f) => f.buffer as ArrayBuffer));
    } catch (err) {
      parentPort!.postMessage({ type: 'error', id: req.id, message: (err as Error).message } satisfies EmbedReply);
    }
  });
}

main().catch((err: unknown) => parentPort!.postMessage({ type: 'error', id: -1, message: (err as Error)?.message ?? String(err) } satisfies EmbedReply));
