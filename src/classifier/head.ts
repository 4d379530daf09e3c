// The trainable part: a small feed-forward network on frozen features.
import * as tf from './tf.ts';

export interface HeadShape {
  inputDim: number;
  classes: number;
  /** Hidden layer widths; [] = a linear (softmax regression) head. */
  hidden: number[];
  dropout: number;
  /**
   * Seeds the initial weights, so a run without dropout is repeatable. Dropout
   * masks stay unseeded: tfjs would draw the same mask at every step.
   */
  seed?: number;
  /** 'logits' leaves out the final softmax: a head trained on its logits (training/headLoss.ts), then saved as softmax. */
  output?: 'softmax' | 'logits';
}

export function buildHead(s: HeadShape): tf.Sequential {
  const m = tf.sequential();
  // A distinct seed per layer: one seed for all would give related starting weights.
  const seed = (i: number) => (s.seed === undefined ? undefined : s.seed * 101 + i);
  s.hidden.forEach((units, i) => {
    m.add(
      tf.layers.dense({
        units,
        activation: 'relu',
        inputShape: i === 0 ? [s.inputDim] : undefined,
        kernelInitializer: tf.initializers.heNormal({ seed: seed(i) }),
      }),
    );
    if (s.dropout > 0) m.add(tf.layers.dropout({ rate: s.dropout }));
  });
  if (s.hidden.length === 0 && s.dropout > 0) m.add(tf.layers.dropout({ rate: s.dropout, inputShape: [s.inputDim] }));
  m.add(
    tf.layers.dense({
      units: s.classes,
      activation: s.output === 'logits' ? 'linear' : 'softmax',
      inputShape: m.layers.length === 0 ? [s.inputDim] : undefined,
      kernelInitializer: tf.initializers.glorotUniform({ seed: seed(s.hidden.length) }),
    }),
  );
  return m;
}

/** "512,256" | "512" | "0" → widths. */
export function parseHidden(v: string | number): number[] {
  const parts = String(v)
    .split(',')
    .map((x) => Number(x.trim()));
  if (parts.some((n) => !Number.isInteger(n) || n < 0)) throw new Error(`hidden units must be whole numbers ≥ 0, got "${v}"`);
  return parts.filter((n) => n > 0);
}

/**
 * Folds input standardisation (x - mean) / std into the first dense layer, so
 * the saved head takes raw features and needs no side file.
 */
export function foldStandardisation(model: tf.LayersModel, mean: Float32Array, std: Float32Array): void {
  const dense = model.layers.find((l) => l.getClassName() === 'Dense');
  if (!dense) throw new Error('foldStandardisation: the head has no Dense layer');
  const [kernel, bias] = dense.getWeights() as [tf.Tensor2D, tf.Tensor1D];
  const folded = tf.tidy(() => {
    const inv = tf.reshape(tf.reciprocal(tf.tensor1d(std)), [-1, 1]);
    const k = tf.mul<tf.Tensor2D>(kernel, inv);
    const b = tf.sub<tf.Tensor1D>(bias, tf.reshape(tf.matMul(tf.reshape(tf.tensor1d(mean), [1, -1]), k), [-1]));
    return [k, b];
  });
  dense.setWeights(folded);
  folded.forEach((t) => t.dispose());
}
