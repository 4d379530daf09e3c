// Gathers calls that arrive within a few milliseconds and runs them as one
// batch: a model is much faster per image on a batch than one at a time.
export interface BatcherOptions {
  /** How long the first item waits for company. */
  windowMs: number;
  /** Flush at once when this many items are waiting. */
  maxBatch: number;
}

interface Pending<I, O> {
  item: I;
  resolve: (o: O) => void;
  reject: (e: unknown) => void;
}

export class MicroBatcher<I, O> {
  private queue: Pending<I, O>[] = [];
  private timer: NodeJS.Timeout | undefined;
  private running = Promise.resolve();
  batches = 0;

  constructor(private readonly run: (items: I[]) => Promise<O[]>, private readonly opts: BatcherOptions) {}

  submit(item: I): Promise<O> {
    return new Promise<O>((resolve, reject) => {
      this.queue.push({ item, resolve, reject });
      if (this.queue.length >= this.opts.maxBatch) this.flush();
      else this.timer ??= setTimeout(() => this.flush(), this.opts.windowMs);
    });
  }

  private flush(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    const batch = this.queue.splice(0, this.opts.maxBatch);
    if (batch.length === 0) return;
    if (this.queue.length) this.timer = setTimeout(() => this.flush(), this.opts.windowMs);
    // Batches run one after another; the next one gathers while this one runs.
    this.running = this.running.then(async () => {
      this.batches++;
      try {
        const out = await this.run(batch.map((p) => p.item));
        batch.forEach((p, i) => p.resolve(out[i]!));
      } catch (err) {
        batch.forEach((p) => p.reject(err));
      }
    });
  }
}
