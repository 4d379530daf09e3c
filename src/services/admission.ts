// Flood control: per-user and per-guild cooldowns, and a bounded number of
// photos in flight so a burst gets "busy" instead of an ever-growing queue.
export class Cooldowns {
  private readonly last = new Map<string, number>();

  constructor(private readonly userS: number, private readonly guildS: number) {}

  /** Seconds to wait, or 0 when the call may go ahead (and is then counted). */
  check(userId: string, guildId: string | null | undefined, now = Date.now()): number {
    const keys: [string, number][] = [[`u:${userId}`, this.userS]];
    if (guildId) keys.push([`g:${guildId}`, this.guildS]);
    let wait = 0;
    for (const [k, s] of keys) wait = Math.max(wait, (this.last.get(k) ?? -Infinity) + s * 1000 - now);
    if (wait > 0) return Math.ceil(wait / 1000);
    for (const [k] of keys) this.last.set(k, now);
    if (this.last.size > 10_000) this.prune(now);
    return 0;
  }

  private prune(now: number): void {
    const horizon = Math.max(this.userS, this.guildS) * 1000;
    for (const [k, t] of this.last) if (now - t > horizon) this.last.delete(k);
  }
}

export class Admission {
  private active = 0;
  /** Recent photo durations, for a "try again in N s" estimate. */
  private avgMs = 1000;

  constructor(private readonly limit: number) {}

  get inFlight(): number {
    return this.active;
  }

  /** A release function, or null when full. */
  tryEnter(): (() => void) | null {
    if (this.active >= this.limit) return null;
    this.active++;
    const t0 = Date.now();
    let done = false;
    return () => {
      if (done) return;
      done = true;
      this.active--;
      this.avgMs = 0.8 * this.avgMs + 0.2 * (Date.now() - t0);
    };
  }

  retryAfterS(): number {
    return Math.max(1, Math.ceil((this.active * this.avgMs) / 1000 / 2));
  }
}
