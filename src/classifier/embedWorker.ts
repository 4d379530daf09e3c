// Worker-thread side of the EmbedderPool: one TF.js instance, one backbone set.
import * as tf from './tf.ts';
import { parentPort, workerData } from 'node:worker_threads';
import { initBackend, type BackendName } from './backend.ts';
import { loadFeatureExtractor, type BackboneLocations } from './featureExtractor.ts';

export interface EmbedWorkerData {
  arch: string;
  loc: Omit<BackboneLocations, 'fetchFile'>;
  backend?: BackendName;
  /** wasm only: threads for this instance (default 1: the pool, not wasm threads, spreads work over the cores). */
  wasmThreads?: number;
}

/** What the wasm backend actually did with the threads asked for. */
export interface WasmThreadInfo {
  requested: number;
  /** tf.env() WASM_HAS_MULTITHREAD_SUPPORT: false means setThreadsCount had no effect. */
  multithreadSupported: boolean;
  /** Threads XNNPACK actually uses (getThreadsCount). */
  threads: number;
}

export type EmbedRequest =
  | { id: number; images: Uint8Array[]; which?: number[] }
  /** Test hook (EmbedderPool.injectFault): the next request exits the thread or never returns. */
  | { testFault: 'exit' | 'hang' };
export type EmbedReply =
  | { type: 'ready'; specs: import('./backbones.ts').BackboneSpec[]; inputSize: number; backend: string; wasm?: WasmThreadInfo }
  | { type: 'result'; id: number; features: Float32Array[] }
  | { type: 'error'; id: number; message: string };

if (!parentPort) throw new Error('embedWorker.ts runs only as a worker thread (EmbedderPool starts it)');
const port = parentPort;

async function main(): Promise<void> {
  const d = workerData as EmbedWorkerData;
  // One thread per worker by default: the pool, not wasm threads, spreads work over the cores.
  const wasmThreads = d.wasmThreads ?? 1;
  const info = await initBackend({ prefer: d.backend, wasmThreads });
  const wasm =
    info.name === 'wasm'
      ? {
          requested: wasmThreads,
          multithreadSupported: tf.env().getBool('WASM_HAS_MULTITHREAD_SUPPORT'),
          threads: (await import('@tensorflow/tfjs-backend-wasm')).getThreadsCount(),
        }
      : undefined;
  const fx = await loadFeatureExtractor(d.arch, d.loc);
  // Warm-up: the first inference compiles kernels; pay it here, not on a user's photo.
  fx.extract([new Uint8Array(fx.inputSize * fx.inputSize * 3)]);
  port.postMessage({ type: 'ready', specs: fx.specs, inputSize: fx.inputSize, backend: info.name, wasm } satisfies EmbedReply);
  let fault: 'exit' | 'hang' | undefined;
  port.on('message', (req: EmbedRequest) => {
    if ('testFault' in req) return void (fault = req.testFault);
    if (fault === 'exit') process.exit(70);
    if (fault === 'hang') for (;;); // a stuck model call: only terminate() ends it
    try {
      const features = fx.extract(req.images, req.which);
      port.postMessage(
        { type: 'result', id: req.id, features } satisfies EmbedReply,
        features.map((f) => f.buffer as ArrayBuffer),
      );
    } catch (err) {
      port.postMessage({ type: 'error', id: req.id, message: (err as Error).message } satisfies EmbedReply);
    }
  });
}

main().catch((err: unknown) =>
  port.postMessage({ type: 'error', id: -1, message: (err as Error)?.message ?? String(err) } satisfies EmbedReply),
);
