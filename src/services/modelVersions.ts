// The model versions an admin can choose from (/model list, /model rollback): the
// trained versions in the checkpoints folder and the shipped default model. A rollback
// swaps the live model the way a retrain does (ModelManager, then CURRENT).
import fs from 'node:fs';
import path from 'node:path';
import { readMeta, type CheckpointMeta } from '../classifier/checkpoint.ts';
import type { ModelManager } from './modelManager.ts';

/** What /model rollback takes to mean the model shipped in models/default. */
export const SHIPPED_ID = 'default';

export interface ModelVersion {
  /** The version id (a folder of the checkpoints root), or SHIPPED_ID. */
  id: string;
  dir: string;
  createdAt: string;
  validAccuracy: number;
  /** Share right on the per-species evaluation set, when the model was measured so. */
  evalAccuracy?: number;
  species: number;
  shipped: boolean;
  live: boolean;
}

export type RollbackOutcome =
  | { kind: 'done'; version: ModelVersion; previous?: string }
  | { kind: 'already'; version: ModelVersion }
  | { kind: 'busy' }
  | { kind: 'unknown' }
  /** It could not be loaded (a damaged folder): the live model and CURRENT stay as they were. */
  | { kind: 'failed'; version: ModelVersion; error: string }
  /** The shipped model cannot be chosen when BLOOM_CHECKPOINT_DIR is set: a restart would not load it. */
  | { kind: 'pinned' };

export interface ModelVersionsSettings {
  /** The checkpoints root (BLOOM_CHECKPOINT_DIR or models/checkpoints), where /retrain saves and CURRENT names the live one. */
  checkpointDir: string;
  /** models/default (src/modelDir.ts shippedModelDir). */
  shippedDir?: string;
  /** Whether the start-up rule would load the shipped model with no CURRENT (false when BLOOM_CHECKPOINT_DIR is set). */
  shippedSelectable: boolean;
}

const evalAccuracy = (m: CheckpointMeta): number | undefined => {
  const per = Object.values(m.evaluation?.perLabel ?? {});
  const images = per.reduce((n, p) => n + p.images, 0);
  return images ? per.reduce((n, p) => n + p.correct, 0) / images : undefined;
};

export class ModelVersions {
  constructor(
    private readonly models: ModelManager,
    private readonly retrainRunning: () => boolean,
    private readonly s: ModelVersionsSettings,
  ) {}

  /** Newest first, the shipped model last. A folder with an unreadable meta.json is left out. */
  list(): ModelVersion[] {
    const liveDir = this.models.current && path.resolve(this.models.current.dir);
    const describe = (id: string, dir: string, shipped: boolean): ModelVersion | undefined => {
      let meta: CheckpointMeta;
      try {
        meta = readMeta(dir);
      } catch {
        return undefined;
      }
      return {
        id,
        dir,
        createdAt: meta.shipped?.exportedAt ?? meta.createdAt,
        validAccuracy: meta.validAccuracy,
        evalAccuracy: evalAccuracy(meta),
        species: meta.labels.length,
        shipped,
        live: path.resolve(dir) === liveDir,
      };
    };
    const root = this.s.checkpointDir;
    const own = fs.existsSync(root)
      ? fs
          .readdirSync(root, { withFileTypes: true })
          .filter((d) => d.isDirectory() && !d.name.startsWith('.'))
          .map((d) => describe(d.name, path.join(root, d.name), false))
      : [];
    // Pinned to BLOOM_CHECKPOINT_DIR, the shipped model is not one of this deployment's versions (start-up never loads it).
    const shipped =
      this.s.shippedSelectable && this.s.shippedDir && fs.existsSync(path.join(this.s.shippedDir, 'meta.json'))
        ? describe(SHIPPED_ID, this.s.shippedDir, true)
        : undefined;
    return [
      ...own.filter((v): v is ModelVersion => !!v).sort((a, b) => b.createdAt.localeCompare(a.createdAt) || b.id.localeCompare(a.id)),
      ...(shipped ? [shipped] : []),
    ];
  }

  /** Makes `id` the live model; refused while a retrain runs (it would swap the model under the admin's feet). */
  async rollback(id: string): Promise<RollbackOutcome> {
    if (this.retrainRunning()) return { kind: 'busy' };
    if (id.trim() === SHIPPED_ID && !this.s.shippedSelectable) return { kind: 'pinned' };
    const version = this.list().find((v) => v.id === id.trim());
    if (!version) return { kind: 'unknown' };
    if (version.live) return { kind: 'already', version };
    const previous = this.models.version;
    try {
      if (version.shipped) {
        await this.models.load(version.dir);
        // With no CURRENT the start-up rule (src/modelDir.ts) loads the shipped model again after a restart.
        fs.rmSync(path.join(this.s.checkpointDir, 'CURRENT'), { force: true });
      } else await this.models.activate(this.s.checkpointDir, version.id);
    } catch (err) {
      return { kind: 'failed', version, error: (err as Error).message };
    }
    return { kind: 'done', version: { ...version, live: true }, previous };
  }
}
