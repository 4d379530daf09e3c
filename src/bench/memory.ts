// Peak resident memory while the bench runs. Worker threads (embedding pool,
// retrain worker) live in this process, so process RSS covers them.
import { resourceUsage } from 'node:process';

const MB = 1024 * 1024;

export interface MemoryReport {
  /** Highest process.memoryUsage().rss seen by the sampler, in MiB. */
  peakRssMb: number;
  /** process.resourceUsage().maxRSS (the kernel's high-water mark for the whole run), in MiB. */
  maxRssMb: number;
  /** Peak sampled RSS per bench phase, in MiB. */
  byPhase: Record<string, number>;
  sampleIntervalMs: number;
  samples: number;
}

export class MemorySampler {
  private timer: NodeJS.Timeout | undefined;
  private phase = 'setup';
  private peak = 0;
  private count = 0;
  private readonly peaks = new Map<string, number>();

  constructor(readonly intervalMs = 100) {}

  start(): this {
    this.sample();
    this.timer = setInterval(() => this.sample(), this.intervalMs);
    this.timer.unref();
    return this;
  }

  /** Attributes later samples to a phase (e.g. "extraction mobilenet 2w"). */
  enter(phase: string): void {
    this.sample();
    this.phase = phase;
    this.sample();
  }

  private sample(): void {
    const rss = process.memoryUsage().rss;
    this.count++;
    this.peak = Math.max(this.peak, rss);
    this.peaks.set(this.phase, Math.max(this.peaks.get(this.phase) ?? 0, rss));
  }

  stop(): MemoryReport {
    this.sample();
    clearInterval(this.timer);
    return {
      peakRssMb: this.peak / MB,
      // maxRSS is in kilobytes.
      maxRssMb: resourceUsage().maxRSS / 1024,
      byPhase: Object.fromEntries([...this.peaks].map(([k, v]) => [k, v / MB])),
      sampleIntervalMs: this.intervalMs,
      samples: this.count,
    };
  }
}
