// Which model the bot and the tools load when no --checkpoint is given:
// BLOOM_CHECKPOINT_DIR when it is set (an empty one is an error there, as
// before); else the user's own checkpoints (models/checkpoints) once they hold
// one; else the default model shipped in models/default. Retrains always save
// into the user's checkpoints, never into the shipped folder.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Config } from './config.ts';

/** The committed default model (head, meta.json, typical/ thumbnails); BLOOM_SHIPPED_MODEL_DIR overrides it (tests). */
export function shippedModelDir(env: NodeJS.ProcessEnv = process.env): string {
  const set = env.BLOOM_SHIPPED_MODEL_DIR?.trim();
  return set ? path.resolve(set) : fileURLToPath(new URL('../models/default', import.meta.url));
}

/** A checkpoint folder, or a root with CURRENT (not checked further: loading reports damage). */
export function hasCheckpoint(dir: string): boolean {
  return fs.existsSync(path.join(dir, 'meta.json')) || fs.existsSync(path.join(dir, 'CURRENT'));
}

export type ModelSource = 'configured' | 'own' | 'shipped';

export function modelDir(
  config: Pick<Config, 'checkpointDir'>,
  env: NodeJS.ProcessEnv = process.env,
): { dir: string; source: ModelSource } {
  if (env.BLOOM_CHECKPOINT_DIR?.trim()) return { dir: config.checkpointDir, source: 'configured' };
  const shipped = shippedModelDir(env);
  if (hasCheckpoint(config.checkpointDir) || !hasCheckpoint(shipped)) return { dir: config.checkpointDir, source: 'own' };
  return { dir: shipped, source: 'shipped' };
}
