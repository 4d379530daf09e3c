// A tiny trained model on synthetic data, made in seconds: the shapes data set,
// the tiny random CNN as backbone, and a checkpoint trained on them. The tests'
// bot harness and the bench (when the real model or photos are missing) run on it.
import path from 'node:path';
import { initBackend } from '../classifier/backend.ts';
import { setCurrent } from '../classifier/checkpoint.ts';
import { makeEmbedder } from '../classifier/makeEmbedder.ts';
import { FeatureCache } from '../training/featureCache.ts';
import { train } from '../training/trainer.ts';
import { writeShapesDataset } from './fixtures/shapes.ts';
import { writeTinyBackbone } from './fixtures/tinyBackbone.ts';

export const TRAIN_PARAMS = {
  hiddenUnits: [32],
  dropout: 0.1,
  learningRate: 0.01,
  epochs: 25,
  batchSize: 16,
  augViews: 0,
  augLevel: 'basic',
  seed: 1,
};

export interface SyntheticModel {
  dataDir: string;
  backbone: string;
  checkpointDir: string;
  featureDir: string;
}

/** Trains once per tmp folder (cheap: tiny CNN, 3 classes). */
export async function prepareModel(tmp: string): Promise<SyntheticModel> {
  await initBackend({ prefer: 'wasm' });
  const backbone = await writeTinyBackbone(path.join(tmp, 'tiny'));
  const dataDir = await writeShapesDataset(path.join(tmp, 'shapes'));
  const checkpointDir = path.join(tmp, 'checkpoints');
  const featureDir = path.join(tmp, 'features');
  const embedder = await makeEmbedder({ arch: backbone, loc: { cacheDir: tmp }, workers: 0 });
  const r = await train({
    ...TRAIN_PARAMS,
    arch: backbone,
    dataDir,
    saveDir: checkpointDir,
    embedder,
    cache: new FeatureCache(featureDir),
  });
  await embedder.close();
  setCurrent(checkpointDir, r.meta.version);
  return { dataDir, backbone, checkpointDir, featureDir };
}
