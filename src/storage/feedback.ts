import type { Db } from './db.ts';

/** One member's answer about a photo: a known label, a species Bloom does not know yet, or "not a flower". */
export type VoteAnswer = { kind: 'label'; label: string } | { kind: 'new'; name: string } | { kind: 'not_flower' };

export interface Vote {
  predictionId: number;
  userId: string;
  answer: VoteAnswer;
  createdAt: string;
  updatedAt: string;
}

/** How many members gave each answer, most first. */
export interface TallyEntry {
  answer: VoteAnswer;
  count: number;
}

export type VoteResult = 'new' | 'changed' | 'same';

export interface ContributionInput {
  sha256: string;
  path: string;
  bytes: number;
  predictionId: number;
  answer: VoteAnswer;
  createdBy: string;
}

export interface Contribution extends ContributionInput {
  id: number;
  status: 'pending' | 'approved' | 'rejected';
  createdAt: string;
}

type AnswerColumns = { label: string | null; newName: string | null; notFlower: 0 | 1 };

export const answerColumns = (a: VoteAnswer): AnswerColumns => ({
  label: a.kind === 'label' ? a.label : null,
  newName: a.kind === 'new' ? a.name : null,
  notFlower: a.kind === 'not_flower' ? 1 : 0,
});

export const toAnswer = (r: AnswerColumns): VoteAnswer =>
  r.notFlower ? { kind: 'not_flower' } : r.label !== null ? { kind: 'label', label: r.label } : { kind: 'new', name: r.newName ?? '' };

export const sameAnswer = (a: VoteAnswer, b: VoteAnswer): boolean =>
  a.kind === b.kind &&
  (a.kind !== 'label' || a.label === (b as typeof a).label) &&
  (a.kind !== 'new' || a.name.toLowerCase() === (b as typeof a).name.toLowerCase());

type StoredContribution = Omit<Contribution, 'answer'> & AnswerColumns;

export function feedbackQueries(db: Db) {
  const getVote = db.prepare<[number, string], AnswerColumns & { createdAt: string; updatedAt: string }>(`
    SELECT label, new_name AS newName, not_flower AS notFlower, created_at AS createdAt, updated_at AS updatedAt
    FROM votes WHERE prediction_id = ? AND user_id = ?`);
  const insertVote = db.prepare<AnswerColumns & { predictionId: number; userId: string; now: string }>(`
    INSERT INTO votes (prediction_id, user_id, label, new_name, not_flower, created_at, updated_at)
    VALUES (@predictionId, @userId, @label, @newName, @notFlower, @now, @now)`);
  const updateVote = db.prepare<AnswerColumns & { predictionId: number; userId: string; now: string }>(`
    UPDATE votes SET label = @label, new_name = @newName, not_flower = @notFlower, updated_at = @now
    WHERE prediction_id = @predictionId AND user_id = @userId`);
  // New names are grouped case-insensitively, so "lenten rose" and "Lenten Rose" count together.
  const tally = db.prepare<[number], AnswerColumns & { count: number }>(`
    SELECT label, max(new_name) AS newName, not_flower AS notFlower, count(*) AS count
    FROM votes WHERE prediction_id = ?
    GROUP BY label, lower(new_name), not_flower
    ORDER BY count DESC, min(created_at)`);
  const getContribution = db.prepare<[number, string], StoredContribution>(`
    SELECT id, sha256, path, bytes, prediction_id AS predictionId, label, new_name AS newName, not_flower AS notFlower,
           status, created_by AS createdBy, created_at AS createdAt
    FROM contributions WHERE prediction_id = ? AND created_by = ?`);
  const insertContribution = db.prepare<AnswerColumns & Omit<ContributionInput, 'answer'> & { now: string }>(`
    INSERT INTO contributions (sha256, path, bytes, prediction_id, label, new_name, not_flower, created_by, created_at)
    VALUES (@sha256, @path, @bytes, @predictionId, @label, @newName, @notFlower, @createdBy, @now)`);
  const updateContribution = db.prepare<AnswerColumns & { predictionId: number; createdBy: string }>(`
    UPDATE contributions SET label = @label, new_name = @newName, not_flower = @notFlower
    WHERE prediction_id = @predictionId AND created_by = @createdBy AND status = 'pending'`);
  const pendingSince = db
    .prepare<[string, string], number>(
      `
    SELECT count(*) FROM contributions WHERE created_by = ? AND status = 'pending' AND created_at >= ?`,
    )
    .pluck();
  const counts = db.prepare<
    { guildId: string | null; since: string | null },
    { contributions: number; pending: number; photos: number; votes: number }
  >(`
    SELECT (SELECT count(*) FROM contributions c JOIN predictions p ON p.id = c.prediction_id
              WHERE (@guildId IS NULL OR p.guild_id = @guildId) AND (@since IS NULL OR c.created_at >= @since)) AS contributions,
           (SELECT count(*) FROM contributions c JOIN predictions p ON p.id = c.prediction_id
              WHERE (@guildId IS NULL OR p.guild_id = @guildId) AND (@since IS NULL OR c.created_at >= @since) AND c.status = 'pending') AS pending,
           (SELECT count(DISTINCT c.sha256) FROM contributions c JOIN predictions p ON p.id = c.prediction_id
              WHERE (@guildId IS NULL OR p.guild_id = @guildId) AND (@since IS NULL OR c.created_at >= @since)) AS photos,
           (SELECT count(*) FROM votes v JOIN predictions p ON p.id = v.prediction_id
              WHERE (@guildId IS NULL OR p.guild_id = @guildId) AND (@since IS NULL OR v.updated_at >= @since)) AS votes`);

  const now = () => new Date().toISOString();

  return {
    getVote: (predictionId: number, userId: string): Vote | undefined => {
      const r = getVote.get(predictionId, userId);
      return r && { predictionId, userId, answer: toAnswer(r), createdAt: r.createdAt, updatedAt: r.updatedAt };
    },
    /** One vote per member per photo: a new one is added, a different one replaces it, the same one changes nothing. */
    vote: (predictionId: number, userId: string, answer: VoteAnswer): VoteResult =>
      db
        .transaction((): VoteResult => {
          const old = getVote.get(predictionId, userId);
          const params = { predictionId, userId, now: now(), ...answerColumns(answer) };
          if (!old) return (insertVote.run(params), 'new');
          if (sameAnswer(toAnswer(old), answer)) return 'same';
          updateVote.run(params);
          updateContribution.run({ predictionId, createdBy: userId, ...answerColumns(answer) });
          return 'changed';
        })
        .immediate(),
    tally: (predictionId: number): TallyEntry[] => tally.all(predictionId).map((r) => ({ answer: toAnswer(r), count: r.count })),
    getContribution: (predictionId: number, userId: string): Contribution | undefined => {
      const r = getContribution.get(predictionId, userId);
      if (!r) return undefined;
      const { label, newName, notFlower, ...rest } = r;
      return { ...rest, answer: toAnswer({ label, newName, notFlower }) };
    },
    addContribution: (c: ContributionInput): number => {
      const { answer, ...rest } = c;
      return Number(insertContribution.run({ ...rest, ...answerColumns(answer), now: now() }).lastInsertRowid);
    },
    /** Pending contributions a member made since an instant (the daily cap). */
    pendingContributionsSince: (userId: string, sinceIso: string): number => pendingSince.get(userId, sinceIso) ?? 0,
    feedbackCounts: (opts: { guildId?: string; sinceIso?: string } = {}) =>
      counts.get({ guildId: opts.guildId ?? null, since: opts.sinceIso ? new Date(opts.sinceIso).toISOString() : null })!,
  };
}

export type FeedbackQueries = ReturnType<typeof feedbackQueries>;
