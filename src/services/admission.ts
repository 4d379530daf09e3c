// Flood control: per-user and per-guild cooldowns (all DMs share one "guild"),
// a per-user limit on photos in flight, and bounded pools (downloads, model) so
// a burst gets "busy" instead of an ever-growing queue.
export class Cooldowns {
  private readonly last = new Map<string, number>();

  /** `dmS`: the cooldown of the one bucket every direct message shares (the guild cooldown by default). */
  constructor(
    private readonly userS: number,
    private readonly guildS: number,
    private readonly dmS = guildS,
  ) {}

  /** Seconds to wait, or 0 when the call may go ahead (and is then counted). */
  check(userId: string, guildId: string | null | undefined, now = Date.now()): number {
    // Without the shared DM bucket, a set of accounts in DMs would only ever meet their own user cooldowns.
    const keys: [string, number][] = [[`u:${userId}`, this.userS], guildId ? [`g:${guildId}`, this.guildS] : ['dm', this.dmS]];
    let wait = 0;
    for (const [k, s] of keys) wait = Math.max(wait, (this.last.get(k) ?? -Infinity) + s * 1000 - now);
    if (wait > 0) return Math.ceil(wait / 1000);
    for (const [k] of keys) this.last.set(k, now);
    if (this.last.size > 10_000) this.prune(now);
    return 0;
  }

  private prune(now: number): void {
    const horizon = Math.max(this.userS, this.guildS, this.dmS) * 1000;
    for (const [k, t] of this.last) if (now - t > horizon) this.last.delete(k);
  }
}

/** A bounded pool of slots: photos being classified (BLOOM_QUEUE_LIMIT), or downloads of one kind (BLOOM_DOWNLOAD_SLOTS). */
export class Admission {
  private active = 0;
  /** Recent photo durations, for a "try again in N s" estimate. */
  private avgMs = 1000;

  constructor(private readonly limit: number) {}

  get inFlight(): number {
    return this.active;
  }

  get full(): boolean {
    return this.active >= this.limit;
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

/** At most `limit` photos in flight per user, so a handful of accounts cannot hold every slot. */
export class UserInFlight {
  private readonly active = new Map<string, number>();

  constructor(readonly limit: number) {}

  count(userId: string): number {
    return this.active.get(userId) ?? 0;
  }

  /** A release function, or null when the user already has `limit` photos in flight. */
  tryEnter(userId: string): (() => void) | null {
    const n = this.count(userId);
    if (n >= this.limit) return null;
    this.active.set(userId, n + 1);
    let done = false;
    return () => {
      if (done) return;
      done = true;
      const left = this.count(userId) - 1;
      if (left > 0) this.active.set(userId, left);
      else this.active.delete(userId);
    };
  }
}
