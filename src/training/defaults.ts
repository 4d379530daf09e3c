import type { TrainParams } from '../classifier/checkpoint.ts';

/** The default configuration, chosen on the flowers valid split (README: "Choosing the defaults"). */
export const DEFAULT_TRAIN_PARAMS: TrainParams = {
  arch: 'mobilenet_v1_0.75_224',
  hiddenUnits: [],
  dropout: 0.5,
  learningRate: 0.001,
  epochs: 25,
  batchSize: 128,
  augViews: 2,
  augLevel: 'robust',
  seed: 1,
};
