import type { Db } from './db.ts';
import { answerColumns, toAnswer, type TallyEntry, type VoteAnswer } from './feedback.ts';
import type { LearningQueries } from './learning.ts';

/** One photo waiting for review: a prediction with at least one pending contribution. */
export interface PendingPhoto {
  predictionId: number;
  /** Pending contributions of it (one per member who kept it). */
  contributions: number;
  /** When the first of them was kept. */
  firstAt: string;
}

/** A member's pending contribution of one photo. */
export interface PendingContribution {
  id: number;
  sha256: string;
  path: string;
  createdBy: string;
  createdAt: string;
  answer: VoteAnswer;
}

/** The last decision taken on a photo (to answer a stale button). */
export interface Review {
  status: 'approved' | 'rejected';
  reviewedBy: string | null;
  reviewedAt: string | null;
  finalLabel: string | null;
}

/** What an approval did: how many contributions, and the label they now train as. */
export interface Approval {
  approved: number;
  /** A dataset label or a species label ('c<id>'); null for "not a flower". */
  finalLabel: string | null;
  /** Set when the decision named a species nobody had taught before. */
  createdSpecies?: { label: string; name: string };
}

/** What /forget removed. `files` are the stored photos no other contribution references any more. */
export interface Forgotten {
  votes: number;
  contributions: number;
  predictions: number;
  files: { sha256: string; path: string }[];
  /** Photos of the member's contributions kept because other members contributed the same photo. */
  sharedPhotos: number;
}

type AnswerColumns = ReturnType<typeof answerColumns>;

/** The review queue, approvals and rejections, the agreement rule, and forgetting a member. */
export function reviewQueries(db: Db, learning: LearningQueries) {
  // Oldest first, so the queue is stable while an admin pages through it.
  const queue = db.prepare<[string], PendingPhoto>(`
    SELECT c.prediction_id AS predictionId, count(*) AS contributions, min(c.created_at) AS firstAt
    FROM contributions c JOIN predictions p ON p.id = c.prediction_id
    WHERE c.status = 'pending' AND p.guild_id = ?
    GROUP BY c.prediction_id ORDER BY min(c.id)`);
  const pending = db.prepare<[number], Omit<PendingContribution, 'answer'> & AnswerColumns>(`
    SELECT id, sha256, path, created_by AS createdBy, created_at AS createdAt,
           label, new_name AS newName, not_flower AS notFlower
    FROM contributions WHERE prediction_id = ? AND status = 'pending' ORDER BY id`);
  // The pending contributors' majority; a tie goes to the answer given first. A new name is
  // spelt as its first contributor typed it (SQLite takes bare columns from the min(id) row).
  const majority = db.prepare<[number], AnswerColumns & { count: number }>(`
    SELECT label, new_name AS newName, not_flower AS notFlower, count(*) AS count, min(id) AS first
    FROM contributions WHERE prediction_id = ? AND status = 'pending'
    GROUP BY label, lower(new_name), not_flower
    ORDER BY count DESC, first LIMIT 1`);
  const lastReview = db.prepare<[number], Review>(`
    SELECT status, reviewed_by AS reviewedBy, reviewed_at AS reviewedAt, final_label AS finalLabel
    FROM contributions WHERE prediction_id = ? AND status <> 'pending'
    ORDER BY reviewed_at DESC, id DESC LIMIT 1`);
  const countPending = db
    .prepare<[number], number>(`SELECT count(*) FROM contributions WHERE prediction_id = ? AND status = 'pending'`)
    .pluck();
  const decide = db.prepare<{ predictionId: number; status: string; finalLabel: string | null; by: string; now: string }>(`
    UPDATE contributions SET status = @status, final_label = @finalLabel, reviewed_by = @by, reviewed_at = @now
    WHERE prediction_id = @predictionId AND status = 'pending'`);

  const userContributions = db.prepare<[string], { sha256: string; path: string }>(
    `SELECT DISTINCT sha256, path FROM contributions WHERE created_by = ?`,
  );
  const deleteVotes = db.prepare<[string]>(`DELETE FROM votes WHERE user_id = ?`);
  const deleteContributions = db.prepare<[string]>(`DELETE FROM contributions WHERE created_by = ?`);
  const unlinkPredictions = db.prepare<[string]>(`UPDATE predictions SET user_id = NULL WHERE user_id = ?`);
  const referenced = db.prepare<[string], number>(`SELECT count(*) FROM contributions WHERE sha256 = ?`).pluck();
  const countVotes = db.prepare<[string], number>(`SELECT count(*) FROM votes WHERE user_id = ?`).pluck();
  const countContributions = db.prepare<[string], number>(`SELECT count(*) FROM contributions WHERE created_by = ?`).pluck();
  const countPredictions = db.prepare<[string], number>(`SELECT count(*) FROM predictions WHERE user_id = ?`).pluck();

  const now = () => new Date().toISOString();

  /** The label a decision trains as: a known label, a (possibly new) community species, or null for "not a flower". */
  const labelOf = (decision: VoteAnswer, by: string): Pick<Approval, 'finalLabel' | 'createdSpecies'> => {
    if (decision.kind === 'label') return { finalLabel: decision.label };
    if (decision.kind === 'not_flower') return { finalLabel: null };
    const { species, created } = learning.ensureSpecies(decision.name, by);
    return { finalLabel: species.label, ...(created && { createdSpecies: { label: species.label, name: species.name } }) };
  };

  return {
    /** Photos of this server with pending contributions, oldest first. */
    pendingPhotos: (guildId: string): PendingPhoto[] => queue.all(guildId),
    pendingContributions: (predictionId: number): PendingContribution[] =>
      pending
        .all(predictionId)
        .map(({ label, newName, notFlower, ...rest }) => ({ ...rest, answer: toAnswer({ label, newName, notFlower }) })),
    /** The answer most pending contributors of this photo gave, with how many gave it. */
    proposal: (predictionId: number): TallyEntry | undefined => {
      const r = majority.get(predictionId);
      return r && { answer: toAnswer(r), count: r.count };
    },
    lastReview: (predictionId: number): Review | undefined => lastReview.get(predictionId),
    /**
     * Approves every pending contribution of the photo as `decision`. A species named for
     * the first time is created (label 'c<id>'), but only when there was something to approve.
     * Undefined when nothing was pending (already reviewed, or never kept).
     */
    approve: (predictionId: number, decision: VoteAnswer, by: string): Approval | undefined =>
      db
        .transaction((): Approval | undefined => {
          if (!countPending.get(predictionId)) return undefined;
          const label = labelOf(decision, by);
          const approved = decide.run({ predictionId, status: 'approved', finalLabel: label.finalLabel, by, now: now() }).changes;
          return { approved, ...label };
        })
        .immediate(),
    /** Rejects every pending contribution of the photo; 0 when nothing was pending. The photo file stays. */
    reject: (predictionId: number, by: string): number =>
      decide.run({ predictionId, status: 'rejected', finalLabel: null, by, now: now() }).changes,
    /**
     * The agreement rule: the answer at least `min` members gave on this photo when nobody
     * gave another; undefined otherwise (or when min < 1, which means off).
     */
    agreedAnswer: (tally: TallyEntry[], min: number): VoteAnswer | undefined =>
      min >= 1 && tally.length === 1 && tally[0]!.count >= min ? tally[0]!.answer : undefined,
    /** What /forget would remove. */
    memberData: (userId: string): { votes: number; contributions: number; predictions: number } => ({
      votes: countVotes.get(userId) ?? 0,
      contributions: countContributions.get(userId) ?? 0,
      predictions: countPredictions.get(userId) ?? 0,
    }),
    /**
     * Removes a member's votes and contributions and unlinks their predictions (user_id NULL).
     * Returns the photo files nobody else's contribution references any more, for the caller to delete.
     */
    forget: (userId: string): Forgotten =>
      db
        .transaction((): Forgotten => {
          const photos = userContributions.all(userId);
          const votes = deleteVotes.run(userId).changes;
          const contributions = deleteContributions.run(userId).changes;
          const predictions = unlinkPredictions.run(userId).changes;
          const files = photos.filter((p) => !referenced.get(p.sha256));
          return { votes, contributions, predictions, files, sharedPhotos: photos.length - files.length };
        })
        .immediate(),
  };
}

export type ReviewQueries = ReturnType<typeof reviewQueries>;
