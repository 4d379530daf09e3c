// The loss a head trains with, on its logits (issue 12: honest on species it
// never saw). Cross-entropy lets a head grow its logits without bound on the
// training photos, so it grows sure of anything that resembles them; LogitNorm
// (Wei et al., ICML 2022) takes the cross-entropy of the logits scaled to a
// fixed norm 1/τ, so only their direction is learnt. On the leave-species-out
// run (README, "Three kinds of answer") it ranked unknown species below known
// ones a little better for heads on centre crops, not on the default recipe.
// The saved head is the same either way (softmax of the logits); its
// temperature is fitted afterwards as always.
import type { TrainParams } from '../classifier/checkpoint.ts';
import * as tf from '../classifier/tf.ts';

export type HeadLossName = NonNullable<TrainParams['loss']>;
export const HEAD_LOSSES: readonly HeadLossName[] = ['crossentropy', 'logitnorm'];

/** As kept in a checkpoint's params. */
export type HeadLoss = Pick<TrainParams, 'loss' | 'logitTemperature'>;

/** τ of the leave-species-out comparison (0.04 is also the paper's). */
export const DEFAULT_LOGIT_TEMPERATURE = 0.04;

export function isHeadLoss(v: string): v is HeadLossName {
  return (HEAD_LOSSES as readonly string[]).includes(v);
}

/** Mean loss of a batch: one-hot targets, logits. */
export function lossOnLogits(spec: HeadLoss | undefined): (oneHot: tf.Tensor, logits: tf.Tensor) => tf.Scalar {
  if (spec?.loss !== 'logitnorm') return (y, z) => tf.losses.softmaxCrossEntropy<tf.Tensor, tf.Scalar>(y, z);
  const tau = spec.logitTemperature ?? DEFAULT_LOGIT_TEMPERATURE;
  if (!(tau > 0)) throw new Error(`the logit temperature must be > 0 (got ${tau})`);
  return (y, z) =>
    tf.tidy(() =>
      tf.losses.softmaxCrossEntropy<tf.Tensor, tf.Scalar>(y, tf.div(z, tf.mul(tf.add(tf.norm(z, 'euclidean', -1, true), 1e-7), tau))),
    );
}
