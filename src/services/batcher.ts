// Gathers calls that arrive within a few milliseconds, or while the previous
// batch runs, and runs them as one batch: one embed call that the pool splits
// over its workers (native backends are also faster per image on a batch).
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
  private busy = false;
  batches = 0;

  constructor(
    private readonly run: (items: I[]) => Promise<O[]>,
    private readonly opts: BatcherOptions,
  ) {}

  submit(item: I): Promise<O> {
    return new Promise<O>((resolve, reject) => {
      this.queue.push({ item, resolve, reject });
      // While a batch runs, new items simply wait for the next one.
      if (this.busy) return;
      if (this.queue.length >= this.opts.maxBatch) void this.drain();
      else this.timer ??= setTimeout(() => void this.drain(), this.opts.windowMs);
    });
  }

  /**
   * Runs batches one after another until the queue is empty. Each batch takes
   * what has queued up while the previous one ran, so under load batches grow
   * (and keep every worker busy) instead of running as many small ones.
   */
  private async drain(): Promise<void> {
    clearTimeout(this.timer);
    this.timer = undefined;
    if (this.busy) return;
    this.busy = true;
    try {
      while (this.queue.length) {
        const batch = this.queue.splice(0, this.opts.maxBatch);
        this.batches++;
        try {
          const out = await this.run(batch.map((p) => p.item));
          batch.forEach((p, i) => p.resolve(out[i]!));
        } catch (err) {
          batch.forEach((p) => p.reject(err));
        }
      }
    } finally {
      this.busy = false;
    }
  }
}
