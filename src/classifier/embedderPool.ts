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
import { UserFacingError } from '../errors.ts';
import type { EmbedReply, EmbedRequest, EmbedWorkerData, WasmThreadInfo } from './embedWorker.ts';

interface Slot {
  worker: Worker;
  pending: number;
  /** Requests sent so far (observability; the tests use it). */
  sent: number;
  waiting: Map<number, { resolve: (f: Float32Array[]) => void; reject: (e: Error) => void }>;
  /** Taken out on purpose (resize, close, timeout): its exit is not a crash. */
  retiring?: boolean;
  dead?: boolean;
  /** Set when the thread ended; the pool's watcher acts on it (also if it ended before the watcher was attached). */
  ended?: string;
}

/** A model call that could not be answered: the worker died or took too long. Its message is for the user. */
export class ModelWorkerError extends UserFacingError<'MODEL_RESTARTED' | 'MODEL_TIMEOUT'> {
  constructor(code: 'MODEL_RESTARTED' | 'MODEL_TIMEOUT', detail: string) {
    super(
      code,
      code === 'MODEL_RESTARTED'
        ? 'My model worker restarted — please send that photo again.'
        : 'My model took too long on that photo — please send it again in a moment.',
      { detail },
    );
    this.name = 'ModelWorkerError';
  }
}

/** What happened to the pool's workers, for the log. */
export type PoolEvent =
  | { type: 'worker-died'; reason: string; failedRequests: number }
  | { type: 'timeout'; ms: number }
  | { type: 'worker-replaced' }
  | { type: 'replace-failed'; reason: string };

export interface PoolOptions {
  arch: string;
  loc: BackboneLocations;
  workers: number;
  backend?: BackendName;
  /** wasm only: threads per worker (default 1). */
  wasmThreads?: number;
  /**
   * A model call not answered within this fails with ModelWorkerError and its worker is
   * replaced. The bot sets it (BLOOM_MODEL_TIMEOUT_S); without it (long batch jobs) calls have no limit.
   */
  timeoutMs?: number;
  /** Told when a worker dies, hangs or is replaced (the app logs these). */
  onEvent?: (e: PoolEvent) => void;
}

export class EmbedderPool implements Embedder {
  private nextId = 1;
  private closed = false;
  /** Workers the pool should have (start, resize); dead ones are replaced up to it. */
  private target: number;
  /** Replacements being started. */
  private replacing = 0;
  /** Resolved whenever a replacement joins (embed waits on it when no worker is left). */
  private joined: { promise: Promise<void>; resolve: () => void } = deferred();
  private readonly timeoutMs: number | undefined;
  private readonly onEvent: (e: PoolEvent) => void;

  private constructor(
    private readonly data: EmbedWorkerData,
    private readonly slots: Slot[],
    readonly specs: BackboneSpec[],
    readonly inputSize: number,
    readonly backend: string,
    /** On wasm: the threads asked for and what the backend made of them (first worker). */
    readonly wasm: WasmThreadInfo | undefined,
    o: PoolOptions,
  ) {
    this.target = slots.length;
    this.timeoutMs = o.timeoutMs && o.timeoutMs > 0 ? o.timeoutMs : undefined;
    this.onEvent = (e) => {
      try {
        o.onEvent?.(e);
      } catch {
        // reporting must not break the pool
      }
    };
    for (const slot of slots) this.watch(slot);
  }

  static async start(o: PoolOptions): Promise<EmbedderPool> {
    // Downloads happen once, here; workers then load from local folders.
    for (const part of splitArch(o.arch)) await resolveBackbone(part, o.loc);
    const data: EmbedWorkerData = {
      arch: o.arch,
      loc: { backboneDir: o.loc.backboneDir, cacheDir: o.loc.cacheDir },
      backend: o.backend,
      wasmThreads: o.wasmThreads,
    };
    const started = await Promise.all(Array.from({ length: Math.max(1, o.workers) }, () => startOne(data)));
    const first = started[0]!.ready;
    return new EmbedderPool(
      data,
      started.map((s) => s.slot),
      first.specs,
      first.inputSize,
      first.backend,
      first.wasm,
      o,
    );
  }

  get size(): number {
    return this.slots.length;
  }

  /** A worker that dies after start: fail its requests at once, drop it, start a replacement. */
  private watch(slot: Slot): void {
    const died = (reason: string) => this.lose(slot, reason);
    slot.worker.on('error', (err) => died(`crashed: ${err.message}`));
    slot.worker.on('exit', (code) => died(`exited with code ${code}`));
    const ended = slot.ended; // set once (??=)
    if (ended) queueMicrotask(() => died(ended));
  }

  /** Takes a dead (or stuck) worker out: its waiting requests fail, a replacement starts. */
  private lose(slot: Slot, reason: string): void {
    if (slot.dead) return;
    slot.dead = true;
    const failed = failWaiting(slot, new ModelWorkerError('MODEL_RESTARTED', `embedding worker ${reason}`));
    const at = this.slots.indexOf(slot);
    if (at >= 0) this.slots.splice(at, 1);
    if (slot.retiring || this.closed) return;
    this.onEvent({ type: 'worker-died', reason, failedRequests: failed });
    this.replace();
  }

  private replace(): void {
    if (this.closed || this.slots.length + this.replacing >= this.target) return;
    this.replacing++;
    startOne(this.data).then(
      ({ slot }) => {
        this.replacing--;
        if (this.closed || this.slots.length >= this.target) return void slot.worker.terminate();
        this.watch(slot);
        this.slots.push(slot);
        this.onEvent({ type: 'worker-replaced' });
        this.joined.resolve();
        this.joined = deferred();
      },
      (err: Error) => {
        this.replacing--;
        this.onEvent({ type: 'replace-failed', reason: err.message });
        // Try again a little later (say memory was short), unless the pool is gone.
        setTimeout(() => this.replace(), 5000).unref();
      },
    );
  }

  /** Test hook: the worker's next request makes it exit (a crash) or never return (a hang). */
  injectFault(fault: 'exit' | 'hang', worker = 0): void {
    this.slots[worker]?.worker.postMessage({ testFault: fault } satisfies EmbedRequest);
  }

  private send(slot: Slot, images: Uint8Array[], which?: number[]): Promise<Float32Array[]> {
    if (this.closed) return Promise.reject(new Error('embedder pool is closed'));
    if (slot.dead) return Promise.reject(new ModelWorkerError('MODEL_RESTARTED', 'embedding worker is gone'));
    const id = this.nextId++;
    slot.pending += images.length;
    slot.sent++;
    let timer: NodeJS.Timeout | undefined;
    return new Promise<Float32Array[]>((resolve, reject) => {
      slot.waiting.set(id, { resolve, reject });
      // A worker that does not answer in time is stuck: it is replaced, which fails its other requests too.
      const timeoutMs = this.timeoutMs;
      if (timeoutMs !== undefined)
        timer = setTimeout(() => {
          if (!slot.waiting.has(id)) return;
          slot.waiting.delete(id);
          reject(new ModelWorkerError('MODEL_TIMEOUT', `no answer from the embedding worker in ${timeoutMs} ms`));
          this.onEvent({ type: 'timeout', ms: timeoutMs });
          this.lose(slot, `did not answer within ${timeoutMs} ms`);
          void slot.worker.terminate();
        }, timeoutMs);
      slot.worker.postMessage({ id, images, which } satisfies EmbedRequest);
    }).finally(() => {
      clearTimeout(timer);
      slot.pending -= images.length;
    });
  }

  /** Live workers, waiting for a replacement when none is left (loading a model takes seconds: up to a minute, or the model timeout if longer). */
  private async liveSlots(): Promise<Slot[]> {
    if (this.slots.length > 0 || this.closed) return this.slots;
    let timer: NodeJS.Timeout | undefined;
    const waitMs = Math.max(this.timeoutMs ?? 0, 60_000);
    const timeout = new Promise<never>(
      (_, reject) =>
        (timer = setTimeout(
          () => reject(new ModelWorkerError('MODEL_TIMEOUT', `no embedding worker came back within ${waitMs} ms`)),
          waitMs,
        )),
    );
    try {
      while (this.slots.length === 0 && !this.closed) await Promise.race([this.joined.promise, timeout]);
    } finally {
      clearTimeout(timer);
    }
    return this.slots;
  }

  /** Requests each worker has been sent. */
  get requestsPerWorker(): number[] {
    return this.slots.map((s) => s.sent);
  }

  async embed(images: Uint8Array[], which?: number[]): Promise<Float32Array[]> {
    if (images.length === 0) return [];
    if (this.closed) throw new Error('embedder pool is closed');
    const slots = await this.liveSlots();
    if (this.closed || slots.length === 0) throw new Error('embedder pool is closed');
    const backbones = which ?? this.specs.map((_, i) => i);
    const idle = slots.filter((s) => s.pending === 0);
    // A lone photo on an ensemble: run its backbones side by side on idle
    // workers, so its latency is the slowest backbone's, not their sum.
    if (images.length === 1 && backbones.length > 1 && idle.length > 1) return this.embedSplit(images, backbones, idle);
    const bySlack = [...slots].sort((a, b) => a.pending - b.pending);
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
      out.set(parts[g]![0]!.subarray(read[g], read[g]! + dims[i]!), at);
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
    this.target = want;
    if (this.closed || want === this.slots.length + this.replacing) return;
    if (want > this.slots.length + this.replacing) {
      const added = await Promise.all(Array.from({ length: want - this.slots.length - this.replacing }, () => startOne(this.data)));
      if (this.closed) return void (await Promise.all(added.map((a) => a.slot.worker.terminate())));
      for (const a of added) this.watch(a.slot);
      this.slots.push(...added.map((a) => a.slot));
      return;
    }
    const leaving = this.slots.splice(want);
    leaving.forEach((slot) => (slot.retiring = true));
    await Promise.all(
      leaving.map(async (slot) => {
        while (slot.pending > 0) await new Promise((r) => setTimeout(r, 10));
        await slot.worker.terminate();
      }),
    );
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.slots.forEach((s) => (s.retiring = true));
    await Promise.all(this.slots.map((s) => s.worker.terminate()));
  }
}

function deferred(): { promise: Promise<void>; resolve: () => void } {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => (resolve = r));
  return { promise, resolve };
}

/** Rejects every request waiting on a slot; returns how many there were. */
function failWaiting(slot: Slot, err: Error): number {
  const n = slot.waiting.size;
  for (const w of slot.waiting.values()) w.reject(err);
  slot.waiting.clear();
  return n;
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
    // Before it is ready, a failure is a failed start; after, the pool's watcher handles it.
    const failAll = (err: Error) => {
      slot.ended ??= err.message.replace(/^embedding worker /, '');
      if (!ready) reject(err);
    };
    worker.on('error', (err) => failAll(new Error(`embedding worker crashed: ${err.message}`)));
    worker.on('exit', (code) => failAll(new Error(`embedding worker exited with code ${code}`)));
  });
}
