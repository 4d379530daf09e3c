// Feature extraction on a pool of worker threads, one TF.js instance each, so
// both cores work and the Discord thread stays free. A batch is split into
// one chunk per idle worker; single images go to the least busy worker.
import type { Worker } from 'node:worker_threads';
import { startTsWorker } from '../util/tsWorker.ts';
import type { BackboneSpec } from './backbones.ts';
import type { BackendName } from './backend.ts';
import type { Embedder } from './embedder.ts';
import { resolveBackbone, type BackboneLocations } from './featureExtractor.ts';
import { splitArch } from './backbones.ts';
import type { EmbedReply, EmbedRequest, EmbedWorkerData, WasmThreadInfo } from './embedWorker.ts';

interface Slot {
  worker: Worker;
  pending: number;
  /** Requests sent so far (observability; the tests use it). */
  sent: number;
  waiting: Map<number, { resolve: (f: Float32Array[]) => void; reject: (e: Error) => void }>;
}

export interface PoolOptions {
  arch: string;
  loc: BackboneLocations;
  workers: number;
  backend?: BackendName;
  /** wasm only: threads per worker (default 1). */
  wasmThreads?: number;
}

export class EmbedderPool implements Embedder {
  private nextId = 1;
  private closed = false;

  private constructor(
    private readonly data: EmbedWorkerData,
    private readonly slots: Slot[],
    readonly specs: BackboneSpec[],
    readonly inputSize: number,
    readonly backend: string,
    /** On wasm: the threads asked for and what the backend made of them (first worker). */
    readonly wasm?: WasmThreadInfo,
  ) {}

  static async start(o: PoolOptions): Promise<EmbedderPool> {
    // Downloads happen once, here; workers then load from local folders.
    for (const part of splitArch(o.arch)) await resolveBackbone(part, o.loc);
    const data: EmbedWorkerData = { arch: o.arch, loc: { backboneDir: o.loc.backboneDir, cacheDir: o.loc.cacheDir }, backend: o.backend, wasmThreads: o.wasmThreads };
    const started = await Promise.all(Array.from({ length: Math.max(1, o.workers) }, () => startOne(data)));
    const first = started[0]!.ready;
    return new EmbedderPool(data, started.map((s) => s.slot), first.specs, first.inputSize, first.backend, first.wasm);
  }

  get size(): number {
    return this.slots.length;
  }

  private send(slot: Slot, images: Uint8Array[], which?: number[]): Promise<Float32Array[]> {
    if (this.closed) return Promise.reject(new Error('embedder pool is closed'));
    const id = this.nextId++;
    slot.pending += images.length;
    slot.sent++;
    return new Promise<Float32Array[]>((resolve, reject) => {
      slot.waiting.set(id, { resolve, reject });
      slot.worker.postMessage({ id, images, which } satisfies EmbedRequest);
    }).finally(() => (slot.pending -= images.length));
  }

  /** Requests each worker has been sent. */
  get requestsPerWorker(): number[] {
    return this.slots.map((s) => s.sent);
  }

  async embed(images: Uint8Array[], which?: number[]): Promise<Float32Array[]> {
    if (images.length === 0) return [];
    const backbones = which ?? this.specs.map((_, i) => i);
    const idle = this.slots.filter((s) => s.pending === 0);
    // A lone photo on an ensemble: run its backbones side by side on idle
    // workers, so its latency is the slowest backbone's, not their sum.
    if (images.length === 1 && backbones.length > 1 && idle.length > 1) return this.embedSplit(images, backbones, idle);
    const bySlack = [...this.slots].sort((a, b) => a.pending - b.pending);
    const parts = Math.min(images.length, bySlack.length);
    const size = Math.ceil(images.length / parts);
    const chunks = Array.from({ length: parts }, (_, i) => images.slice(i * size, (i + 1) * size)).filter((c) => c.length);
    const results = await Promise.all(chunks.map((c, i) => this.send(bySlack[i]!, c, which)));
    return results.flat();
  }

  private async embedSplit(images: Uint8Array[], backbones: number[], idle: Slot[]): Promise<Float32Array[]> {
    const groups = idle.slice(0, backbones.length).map(() => [] as number[]);
    backbones.forEach((b, i) => groups[i % groups.length]!.push(b));
    const parts = await Promise.all(groups.map((g, i) => this.send(idle[i]!, images, g)));
    // Back into the order asked for: each part holds its group's features, concatenated.
    const dims = backbones.map((b) => this.specs[b]!.featureSize);
    const out = new Float32Array(dims.reduce((a, d) => a + d, 0));
    const read = groups.map(() => 0);
    let at = 0;
    backbones.forEach((_, i) => {
      const g = i % groups.length;
      out.set(parts[g]![0]!.subarray(read[g]!, read[g]! + dims[i]!), at);
      read[g]! += dims[i]!;
      at += dims[i]!;
    });
    return [out];
  }

  /**
   * Grows or shrinks the pool. Workers taken out get no new work and stop once
   * their current work is answered (a retrain borrows their memory this way).
   */
  async resize(n: number): Promise<void> {
    const want = Math.max(1, Math.floor(n));
    if (this.closed || want === this.slots.length) return;
    if (want > this.slots.length) {
      const added = await Promise.all(Array.from({ length: want - this.slots.length }, () => startOne(this.data)));
      if (this.closed) return void (await Promise.all(added.map((a) => a.slot.worker.terminate())));
      this.slots.push(...added.map((a) => a.slot));
      return;
    }
    const leaving = this.slots.splice(want);
    await Promise.all(leaving.map(async (slot) => {
      while (slot.pending > 0) await new Promise((r) => setTimeout(r, 10));
      await slot.worker.terminate();
    }));
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await Promise.all(this.slots.map((s) => s.worker.terminate()));
  }
}

function startOne(data: EmbedWorkerData): Promise<{ slot: Slot; ready: Extract<EmbedReply, { type: 'ready' }> }> {
  return new Promise((resolve, reject) => {
    const worker = startTsWorker(new URL('./embedWorker.ts', import.meta.url), { workerData: data });
    const slot: Slot = { worker, pending: 0, sent: 0, waiting: new Map() };
    let ready = false;
    worker.on('message', (m: EmbedReply) => {
      if (m.type === 'ready') {
        ready = true;
        resolve({ slot, ready: m });
      } else if (m.type === 'error' && m.id === -1) {
        reject(new Error(`embedding worker failed to start: ${m.message}`));
      } else if (m.type === 'result' || m.type === 'error') {
        const w = slot.waiting.get(m.id);
        slot.waiting.delete(m.id);
        if (m.type === 'result') w?.resolve(m.features);
        else w?.reject(new Error(m.message));
      }
    });
    const failAll = (err: Error) => {
      if (!ready) reject(err);
      for (const w of slot.waiting.values()) w.reject(err);
      slot.waiting.clear();
    };
    worker.on('error', failAll);
    worker.on('exit', (code) => failAll(new Error(`embedding worker exited (${code})`)));
  });
}
