// Where things live by default. ../shared is this team's read-only store of
// data and backbones; elsewhere the same files are downloaded under the repo.
import fs from 'node:fs';
import path from 'node:path';

const firstExisting = (...dirs: string[]) => dirs.find((d) => fs.existsSync(d));

export interface Paths {
  backboneDir?: string;
  cacheDir: string;
  featureCacheDir: string;
  checkpointDir: string;
  dataDir: string;
}

export function defaultPaths(env: NodeJS.ProcessEnv = process.env): Paths {
  return {
    backboneDir: env.BLOOM_BACKBONE_DIR || firstExisting('../shared/backbones'),
    cacheDir: env.BLOOM_BACKBONE_CACHE || 'models/cache',
    featureCacheDir: env.BLOOM_FEATURE_CACHE || 'models/features',
    checkpointDir: env.BLOOM_CHECKPOINT_DIR || 'models/checkpoints',
    dataDir: env.BLOOM_DATA_DIR || firstExisting('../shared/datasets/flowers102') || 'data/flowers102',
  };
}

export const relativeTo = (root: string, p: string) => path.resolve(root, p);
