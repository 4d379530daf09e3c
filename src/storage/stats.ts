import type { Db } from './db.ts';

export interface StatsFilter {
  guildId?: string;
  /** Only predictions created at or after this instant (any Date-parsable string). */
  sinceIso?: string;
  /** How many species to list; 5 by default. */
  topN?: number;
}

export interface SpeciesCount {
  label: string;
  name: string | null;
  count: number;
  meanProbability: number | null;
}

export interface PredictionStats {
  total: number;
  succeeded: number;
  errors: number;
  errorsByCode: { code: string; count: number }[];
  uniqueUsers: number;
  /** Over successful predictions only: failures (timeouts, bad files) would distort it. */
  latencyMs: { mean: number | null; p95: number | null };
  topSpecies: SpeciesCount[];
}

// One statement per query serves every filter combination, so each is prepared once.
const FILTER = `(@guildId IS NULL OR guild_id = @guildId) AND (@since IS NULL OR created_at >= @since)`;
type Filter = { guildId: string | null; since: string | null };

export function statsQueries(db: Db) {
  const totals = db.prepare<Filter, { total: number; errors: number; users: number; latencyCount: number; latencyMean: number | null }>(`
    SELECT count(*) AS total,
           count(error_code) AS errors,
           count(DISTINCT user_id) AS users,
           count(CASE WHEN error_code IS NULL THEN latency_ms END) AS latencyCount,
           avg(CASE WHEN error_code IS NULL THEN latency_ms END) AS latencyMean
    FROM predictions WHERE ${FILTER}`);
  // Nearest-rank percentile: the value at position ceil(0.95 n).
  const nthLatency = db
    .prepare<Filter & { offset: number }, number>(
      `
      SELECT latency_ms FROM predictions
      WHERE ${FILTER} AND error_code IS NULL AND latency_ms IS NOT NULL
      ORDER BY latency_ms LIMIT 1 OFFSET @offset`,
    )
    .pluck();
  const byCode = db.prepare<Filter, { code: string; count: number }>(`
    SELECT error_code AS code, count(*) AS count FROM predictions
    WHERE ${FILTER} AND error_code IS NOT NULL
    GROUP BY error_code ORDER BY count DESC, code`);
  const species = db.prepare<Filter & { limit: number }, SpeciesCount>(`
    SELECT top1_label AS label, max(top1_name) AS name, count(*) AS count,
           avg(top1_probability) AS meanProbability
    FROM predictions
    WHERE ${FILTER} AND error_code IS NULL AND top1_label IS NOT NULL
    GROUP BY top1_label ORDER BY count DESC, label LIMIT @limit`);

  return {
    predictionStats: (opts: StatsFilter = {}): PredictionStats => {
      let since: string | null = null;
      if (opts.sinceIso !== undefined) {
        const date = new Date(opts.sinceIso);
        if (Number.isNaN(date.getTime())) throw new RangeError(`sinceIso is not a date: '${opts.sinceIso}'`);
        since = date.toISOString(); // same format as created_at, so text comparison is chronological
      }
      const filter: Filter = { guildId: opts.guildId ?? null, since };
      // One read transaction, so all the numbers describe the same snapshot.
      return db
        .transaction(() => {
          const t = totals.get(filter)!;
          const p95 = t.latencyCount === 0 ? null : (nthLatency.get({ ...filter, offset: Math.ceil(0.95 * t.latencyCount) - 1 }) ?? null);
          return {
            total: t.total,
            succeeded: t.total - t.errors,
            errors: t.errors,
            errorsByCode: byCode.all(filter),
            uniqueUsers: t.users,
            latencyMs: { mean: t.latencyMean, p95 },
            topSpecies: species.all({ ...filter, limit: Math.max(0, Math.trunc(opts.topN ?? 5)) }),
          };
        })
        .deferred();
    },
  };
}
