import type { TrainParams } from '../classifier/checkpoint.ts';
import type { AnswerViews } from '../classifier/crops.ts';

/**
 * The default configuration, chosen on the flowers valid split (README:
 * "Accuracy and the default configuration", "Real photos"): both backbones, the
 * centre view plus two 'robust', three 'phone' and one 'scene' view (a bed,
 * far shot, macro, hand, filter or light, classifier/scenes.ts) of each photo,
 * one drawn per photo per epoch, a linear head with input dropout and a
 * cosine-decayed rate, and one row mixed from two species per training row,
 * trained toward no species (training/outlierMix.ts; README: "Outlier mixing").
 */
export const DEFAULT_TRAIN_PARAMS: TrainParams = {
  arch: 'densenet121+mobilenet_v1_0.75_224',
  hiddenUnits: [],
  dropout: 0.5,
  learningRate: 0.003,
  epochs: 40,
  batchSize: 256,
  augViews: 6,
  augLevel: 'robust:2,phone:3,scene:1',
  seed: 1,
  viewsPerEpoch: 1,
  outlierMix: 1,
};

/**
 * A model that trains in about a minute without a feature cache: the demo's
 * own model when none is trained yet. One light backbone, centre views only,
 * more epochs because it sees few photos.
 */
export const QUICK_TRAIN_PARAMS: TrainParams = {
  ...DEFAULT_TRAIN_PARAMS,
  arch: 'mobilenet_v1_0.75_224',
  augViews: 0,
  augLevel: 'basic',
  epochs: 60,
};

/**
 * The share of its valid photos the shipped model answers with a species: its
 * species threshold (on the calibrated top-1, the probability members see) is the one
 * that answers this share (`npm run calibrate -- --answered-share`). A 102-species
 * model has no unknown species to fit a threshold on. 0.93 is the issue's floor for
 * known species; six leave-species-out runs of the default recipe (ten species left
 * out each, 60 in all, 4,493 photos) check the other targets there: at 0.93 of their
 * own valid photos answered, they answer 0.184 of the
 * left-out species' photos on average (0.100–0.287 by set) and are right on 0.923 of
 * the valid photos, within the issue's ≤ 0.20 and ≥ 0.92; at 0.935 the unknown share
 * is 0.198, at 0.94 0.212 (README: "Unknown species over six leave-out sets"). For the
 * shipped head that is a threshold of 0.8992. `npm run train:default` applies it.
 */
export const DEFAULT_ANSWERED_SHARE = 0.93;

/**
 * The crops the shipped model answers from and how they combine (README:
 * "Real photos"): fitted into its answer settings by `npm run train:default`.
 */
export const DEFAULT_ANSWER_VIEWS: AnswerViews = { crops: ['centre'], combine: 'mean' };
