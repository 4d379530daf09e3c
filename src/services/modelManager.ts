// Owns the live Classifier. A retrain swaps it atomically: new requests get the
// new model at once, requests already running finish on the old one, which is
// disposed when the last of them is done.
import { archOf, Classifier } from '../classifier/classifier.ts';
import path from 'node:path';
import { readMeta, resolveCheckpointDir, setCurrent } from '../classifier/checkpoint.ts';
import type { Embedder } from '../classifier/embedder.ts';
import type { BackboneLocations } from '../classifier/featureExtractor.ts';
import type { Logger } from 'pino';

interface Slot {
  clf: Classifier;
  users: number;
  retired: boolean;
}

export class ModelManager {
  private slot: Slot | undefined;
  private swapping: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly loc: BackboneLocations,
    /** A shared embedder (e.g. the worker pool) reused across swaps when the backbones match. */
    private readonly makeEmbedder?: (arch: string) => Promise<Embedder>,
    private readonly log?: Pick<Logger, 'warn'>,
  ) {}

  get current(): Classifier | undefined {
    return this.slot?.clf;
  }

  get version(): string | undefined {
    return this.slot?.clf.version;
  }

  /**
   * Loads a checkpoint (folder or root with CURRENT) and makes it live. Swaps run one at
   * a time (a retrain finishing while a rollback loads): the last one asked for wins.
   */
  load(checkpoint: string): Promise<Classifier> {
    const next = this.swapping.then(
      () => this.loadNow(checkpoint),
      () => this.loadNow(checkpoint),
    );
    this.swapping = next.catch(() => undefined);
    return next;
  }

  /** Makes version `version` of the checkpoints root live and names it in root/CURRENT, as a retrain does. */
  async activate(root: string, version: string): Promise<Classifier> {
    const clf = await this.load(path.join(root, version));
    setCurrent(root, version);
    return clf;
  }

  private async loadNow(checkpoint: string): Promise<Classifier> {
    const dir = resolveCheckpointDir(checkpoint);
    const arch = archOf(readMeta(dir));
    const prev = this.slot?.clf;
    const reuse = prev && archOf(prev.meta) === arch ? prev.embedder : undefined;
    const embedder = reuse ?? (this.makeEmbedder ? await this.makeEmbedder(arch) : undefined);
    let clf: Classifier;
    try {
      clf = await Classifier.load({ checkpoint: dir, ...this.loc, embedder, ownsEmbedder: true });
    } catch (err) {
      // A pool started for this load would keep its worker threads (and the process) alive.
      if (!reuse) await embedder?.close().catch(() => undefined);
      throw err;
    }
    // A reused embedder changes hands: the old model is disposed with keepEmbedder.
    this.swap(clf);
    return clf;
  }

  private swap(clf: Classifier): void {
    const old = this.slot;
    this.slot = { clf, users: 0, retired: false };
    if (old) {
      old.retired = true;
      if (old.users === 0) this.retireLater(old, clf);
    }
  }

  private async retire(old: Slot, next: Classifier): Promise<void> {
    await old.clf.dispose({ keepEmbedder: old.clf.embedder === next.embedder });
  }

  /** Disposes in the background: a failure costs memory, not the process (and is logged). */
  private retireLater(old: Slot, next: Classifier): void {
    this.retire(old, next).catch((err: unknown) =>
      this.log?.warn({ err, version: old.clf.version }, 'could not dispose the retired model'),
    );
  }

  /** Runs fn with the live model, keeping it alive until fn settles. */
  async use<T>(fn: (clf: Classifier) => Promise<T>): Promise<T> {
    const slot = this.slot;
    if (!slot) throw new Error('No model is loaded yet');
    slot.users++;
    try {
      return await fn(slot.clf);
    } finally {
      slot.users--;
      if (slot.retired && slot.users === 0) this.retireLater(slot, this.slot!.clf);
    }
  }

  async close(): Promise<void> {
    if (this.slot) await this.slot.clf.dispose();
    this.slot = undefined;
  }
}
