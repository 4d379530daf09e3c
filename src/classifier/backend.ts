// Picks the fastest TensorFlow.js backend this machine can run, at run time.
// The native packages are optionalDependencies: their install script downloads
// libtensorflow, which fails offline, so they may simply be absent.
import * as tf from './tf.ts';
import { BACKENDS, type BackendName } from './backendNames.ts';
import { patchWasmMatMul } from './wasmMatMul.ts';

export { BACKENDS, isBackendName, type BackendName } from './backendNames.ts';

export interface BackendInfo {
  name: BackendName;
  /** Why earlier choices were skipped, e.g. "tensorflow-gpu: package not installed". */
  skipped: string[];
  gpuRequested: boolean;
  gpuAvailable: boolean;
}

export interface BackendOptions {
  /** Force one backend (BLOOM_BACKEND); still falls back if it cannot start. */
  prefer?: BackendName;
  /** Ask for the GPU (the CLIs' --gpu). Without it, tfjs-node-gpu is still tried first. */
  gpu?: boolean;
  /** wasm only: threads per instance; 1 keeps one core per worker in a pool. */
  wasmThreads?: number;
  log?: (msg: string) => void;
}

let current: BackendInfo | undefined;

async function tryNative(pkg: '@tensorflow/tfjs-node-gpu' | '@tensorflow/tfjs-node'): Promise<string | null> {
  try {
    await import(pkg);
    if (!(await tf.setBackend('tensorflow'))) return 'backend did not start';
    return null;
  } catch (err) {
    const msg = (err as Error).message ?? String(err);
    return /Cannot find (package|module)/.test(msg) ? 'package not installed' : msg.split('\n')[0]!;
  }
}

async function tryWasm(threads: number | undefined): Promise<string | null> {
  try {
    const wasm = await import('@tensorflow/tfjs-backend-wasm');
    if (threads) wasm.setThreadsCount(threads);
    if (!(await tf.setBackend('wasm'))) return 'backend did not start';
    patchWasmMatMul();
    return null;
  } catch (err) {
    return (err as Error).message.split('\n')[0]!;
  }
}

async function tryCpu(): Promise<string | null> {
  await import('@tensorflow/tfjs-backend-cpu');
  return (await tf.setBackend('cpu')) ? null : 'backend did not start';
}

/** Initialises TF.js once per thread; later calls return the same answer. */
export async function initBackend(opts: BackendOptions = {}): Promise<BackendInfo> {
  if (current) return current;
  const prefer = opts.prefer;
  const order: BackendName[] = prefer
    ? [prefer, ...BACKENDS.filter((b) => b !== prefer && BACKENDS.indexOf(b) > BACKENDS.indexOf(prefer))]
    : [...BACKENDS];
  const skipped: string[] = [];
  let chosen: BackendName = 'cpu';
  for (const name of order) {
    const why =
      name === 'tensorflow-gpu'
        ? await tryNative('@tensorflow/tfjs-node-gpu')
        : name === 'tensorflow'
          ? await tryNative('@tensorflow/tfjs-node')
          : name === 'wasm'
            ? await tryWasm(opts.wasmThreads)
            : await tryCpu();
    if (why === null) {
      chosen = name;
      break;
    }
    skipped.push(`${name}: ${why}`);
  }
  await tf.ready();
  const gpuAvailable = chosen === 'tensorflow-gpu';
  if (opts.gpu && !gpuAvailable) {
    opts.log?.(
      `GPU requested but not available (${skipped.find((s) => s.startsWith('tensorflow-gpu')) ?? 'not tried'}); running on ${chosen}`,
    );
  }
  current = { name: chosen, skipped, gpuRequested: !!opts.gpu, gpuAvailable };
  opts.log?.(`TensorFlow.js backend: ${chosen}${skipped.length ? ` (skipped ${skipped.join('; ')})` : ''}`);
  return current;
}

export function backendInfo(): BackendInfo | undefined {
  return current;
}
