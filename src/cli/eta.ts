// Remaining-time estimates for long phases (a cold `npm run train` extracts
// for hours). The rate is measured over the last few minutes, not since the
// phase began: cache hits at the start would make a whole-phase average far
// too hopeful, and the machine's load changes.

export class RateEstimator {
  private points: { t: number; done: number }[] = [];

  constructor(
    private readonly windowMs = 180_000,
    private readonly now: () => number = Date.now,
  ) {}

  update(done: number): void {
    const t = this.now();
    this.points.push({ t, done });
    // Keep one point older than the window, so the window is always covered.
    while (this.points.length > 2 && this.points[1]!.t <= t - this.windowMs) this.points.shift();
  }

  /** Units per second over the window; undefined until 5 s and some progress are seen. */
  rate(): number | undefined {
    const first = this.points[0],
      last = this.points[this.points.length - 1];
    if (!first || !last || last.t - first.t < 5000 || last.done <= first.done) return undefined;
    return ((last.done - first.done) * 1000) / (last.t - first.t);
  }

  /** Seconds left at the recent rate. */
  secondsLeft(total: number): number | undefined {
    const r = this.rate();
    const done = this.points[this.points.length - 1]?.done ?? 0;
    return r === undefined ? undefined : Math.max(0, total - done) / r;
  }

  /** " · 4.1/s · about 2 h 24 min left in this step", or '' while there is too little to say. */
  describe(total: number, unit = ''): string {
    const r = this.rate();
    const left = this.secondsLeft(total);
    if (r === undefined || left === undefined) return '';
    return ` · ${r >= 10 ? r.toFixed(0) : r.toFixed(1)}${unit}/s · about ${formatDuration(left)} left in this step`;
  }
}

/** 42 → "42 s", 754 → "13 min", 8640 → "2 h 24 min". */
export function formatDuration(seconds: number): string {
  const s = Math.round(seconds);
  if (s < 60) return `${s} s`;
  const min = Math.round(s / 60);
  if (min < 60) return `${min} min`;
  return `${Math.floor(min / 60)} h ${String(min % 60).padStart(2, '0')} min`;
}
