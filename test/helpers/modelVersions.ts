// A second trained version beside the harness's synthetic model, for /model rollback
// tests: the same shapes, but another label set (some classes left out, some folders
// renamed), saved into the same checkpoints root without becoming CURRENT.
import fs from 'node:fs';
import path from 'node:path';
import { readMeta, resolveCheckpointDir, type CheckpointMeta } from '../../src/classifier/checkpoint.ts';
import { makeEmbedder } from '../../src/classifier/makeEmbedder.ts';
import { TRAIN_PARAMS, type SyntheticModel } from '../../src/dev/syntheticModel.ts';
import { FeatureCache } from '../../src/training/featureCache.ts';
import { train } from '../../src/training/trainer.ts';
import { startHarness, type Harness } from './botHarness.ts';

/**
 * Trains a version on the classes of `relabel` (old folder → new folder name), with the
 * same species names; returns its version id. CURRENT still names the first version.
 */
export async function trainVersion(m: SyntheticModel, relabel: Record<string, string>): Promise<string> {
  const names = JSON.parse(fs.readFileSync(path.join(m.dataDir, 'cat_to_name.json'), 'utf8')) as Record<string, string>;
  const dataDir = `${m.dataDir}-v2`;
  for (const split of ['train', 'valid']) {
    for (const [from, to] of Object.entries(relabel)) {
      fs.cpSync(path.join(m.dataDir, split, from), path.join(dataDir, split, to), { recursive: true });
    }
  }
  fs.writeFileSync(
    path.join(dataDir, 'cat_to_name.json'),
    JSON.stringify(Object.fromEntries(Object.entries(relabel).map(([f, t]) => [t, names[f]]))),
  );
  const embedder = await makeEmbedder({ arch: m.backbone, loc: { cacheDir: path.dirname(m.checkpointDir) }, workers: 0 });
  try {
    const r = await train({
      ...TRAIN_PARAMS,
      epochs: 10,
      arch: m.backbone,
      dataDir,
      saveDir: m.checkpointDir,
      embedder,
      cache: new FeatureCache(m.featureDir),
    });
    return r.meta.version;
  } finally {
    await embedder.close();
  }
}

/** Edits the meta.json of the live version (what a retrain of the learning loop records). */
export function editLiveMeta(m: SyntheticModel, edit: (meta: CheckpointMeta) => void): void {
  const dir = resolveCheckpointDir(m.checkpointDir);
  const meta = readMeta(dir);
  edit(meta);
  fs.writeFileSync(path.join(dir, 'meta.json'), JSON.stringify(meta, null, 2));
}

/**
 * A harness whose checkpoints root holds two versions: v1 (live) and v2, which knows
 * red disc ('1') and green square, now in folder '5', and has no blue triangle ('3').
 */
export async function startWithTwoVersions(): Promise<{ h: Harness; v1: string; v2: string }> {
  let v1 = '';
  let v2 = '';
  const h = await startHarness(
    {},
    {
      prepare: async (m) => {
        v1 = fs.readFileSync(path.join(m.checkpointDir, 'CURRENT'), 'utf8').trim();
        v2 = await trainVersion(m, { '1': '1', '2': '5' });
      },
      registerCommands: true,
    },
  );
  return { h, v1, v2 };
}
