export interface Prediction {
  label: string;
  name: string;
  probability: number;
}

/** The k most probable classes, most probable first (ties: lower index first). */
export function topK(probs: ArrayLike<number>, labels: string[], names: Record<string, string>, k = 5): Prediction[] {
  const idx = Array.from({ length: probs.length }, (_, i) => i).sort((a, b) => probs[b]! - probs[a]! || a - b);
  return idx.slice(0, Math.max(1, Math.min(k, probs.length))).map((i) => ({
    label: labels[i]!,
    name: names[labels[i]!] ?? labels[i]!,
    probability: probs[i]!,
  }));
}

/** Averages probability vectors (test-time augmentation). */
export function meanProbs(rows: ArrayLike<number>[]): Float32Array {
  const out = new Float32Array(rows[0]!.length);
  for (const r of rows) for (let i = 0; i < out.length; i++) out[i]! += r[i]! / rows.length;
  return out;
}
