// Summaries of timing samples. Percentiles use the nearest-rank method: p95 of
// 20 samples is the 19th smallest, always a value that was actually measured.

export interface Summary {
  n: number;
  mean: number;
  min: number;
  p50: number;
  p95: number;
  max: number;
}

/** Nearest-rank percentile (p in 0..100) of unsorted samples; NaN when there are none. */
export function percentile(samples: readonly number[], p: number): number {
  if (samples.length === 0) return NaN;
  const sorted = [...samples].sort((a, b) => a - b);
  const rank = Math.min(sorted.length, Math.max(1, Math.ceil((p / 100) * sorted.length)));
  return sorted[rank - 1]!;
}

export function summarise(samples: readonly number[]): Summary {
  const n = samples.length;
  return {
    n,
    mean: n ? samples.reduce((a, b) => a + b, 0) / n : NaN,
    min: n ? Math.min(...samples) : NaN,
    p50: percentile(samples, 50),
    p95: percentile(samples, 95),
    max: n ? Math.max(...samples) : NaN,
  };
}

/** Rounds every number in a JSON-able value (for output; measurements keep full precision). */
export function roundDeep<T>(v: T, digits = 2): T {
  const f = 10 ** digits;
  const walk = (x: unknown): unknown =>
    typeof x === 'number'
      ? Number.isFinite(x)
        ? Math.round(x * f) / f
        : x
      : Array.isArray(x)
        ? x.map(walk)
        : x && typeof x === 'object'
          ? Object.fromEntries(Object.entries(x).map(([k, y]) => [k, walk(y)]))
          : x;
  return walk(v) as T;
}

export const now = (): number => performance.now();
