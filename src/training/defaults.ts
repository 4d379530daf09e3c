import type { TrainParams } from '../classifier/checkpoint.ts';

/** The default configuration, chosen on the flowers valid split (README: "Choosing the defaults"). */
export const DEFAULT_TRAIN_PARAMS: TrainParams = {
  arch: 'mobilenet_v1_0.75_224',
  hiddenUnits: [],
  dropout: 0.5,
  learningRate: 0.003,
  epochs: 40,
  batchSize: 256,
  augViews: 6,
  augLevel: 'robust',
  seed: 1,
  viewsPerEpoch: 1,
};
