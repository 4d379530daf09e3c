// Review of the photos members kept through feedback: the queue of one server,
// approve / reject / relabel, and approval by agreement (a per-server threshold).
// Domain results only: src/bot/review.ts turns them into Discord messages.
import fs from 'node:fs';
import path from 'node:path';
import type { Approval, PendingContribution, Prediction, Review, Store, TallyEntry, VoteAnswer } from '../storage/index.ts';
import { matchSpecies, normalizeName, type FeedbackService } from './feedbackService.ts';

/** reviewed_by of an approval by agreement. */
export const AUTO_REVIEWER = 'auto';
/** The guild setting: members who must agree (and nobody disagree) before a photo is approved; 0 = off. */
export const AUTO_APPROVE_KEY = 'learning.autoApprove';
export const AUTO_APPROVE_MAX = 50;

/** Typed instead of a species name, it means the photo shows no flower. */
const NOT_A_FLOWER = new Set(['notaflower', 'notflower', 'noflower']);

/** One page of the queue: a photo with its pending contributions. */
export interface ReviewItem {
  prediction: Prediction;
  /** 0-based position in the queue, and the queue's length. */
  index: number;
  total: number;
  contributions: PendingContribution[];
  /** The pending contributors' majority answer and how many gave it. */
  proposal: TallyEntry;
  /** Every member's vote on this photo (with or without a kept photo). */
  tally: TallyEntry[];
  /** The stored photo, when its file is still there. */
  photoFile: string | undefined;
}

export type ReviewOutcome =
  | { kind: 'approved'; decision: VoteAnswer; approval: Approval }
  | { kind: 'rejected'; count: number }
  /** Someone decided first: nothing changed. */
  | { kind: 'already'; review: Review }
  /** Not a photo of this server with kept contributions. */
  | { kind: 'gone' };

export class ReviewService {
  constructor(
    private readonly store: Store,
    private readonly feedback: FeedbackService,
    private readonly contribDir: string,
  ) {}

  /** The photo at `index` of this server's queue (clamped to the last one); undefined when the queue is empty. */
  page(guildId: string, index: number): ReviewItem | undefined {
    const queue = this.store.review.pendingPhotos(guildId);
    if (!queue.length) return undefined;
    const at = Math.min(Math.max(0, Math.trunc(index) || 0), queue.length - 1);
    const id = queue[at]!.predictionId;
    const prediction = this.store.getPrediction(id);
    const contributions = this.store.review.pendingContributions(id);
    const proposal = this.store.review.proposal(id);
    if (!prediction || !proposal) return undefined;
    const file = contributions.map((c) => path.join(this.contribDir, c.path)).find((f) => fs.existsSync(f));
    return {
      prediction,
      index: at,
      total: queue.length,
      contributions,
      proposal,
      tally: this.store.feedback.tally(prediction.id),
      photoFile: file,
    };
  }

  /** The prediction, if it belongs to this server. */
  prediction(guildId: string, predictionId: number): Prediction | undefined {
    const p = Number.isSafeInteger(predictionId) && predictionId > 0 ? this.store.getPrediction(predictionId) : undefined;
    return p && p.guildId === guildId ? p : undefined;
  }

  /** Approves the photo's pending contributions as `decision` (by default the contributors' majority). */
  approve(guildId: string, predictionId: number, by: string, decision?: VoteAnswer): ReviewOutcome {
    if (!this.prediction(guildId, predictionId)) return { kind: 'gone' };
    const chosen = decision ?? this.store.review.proposal(predictionId)?.answer;
    const approval = chosen && this.store.review.approve(predictionId, chosen, by);
    return approval ? { kind: 'approved', decision: chosen, approval } : this.stale(predictionId);
  }

  reject(guildId: string, predictionId: number, by: string): ReviewOutcome {
    if (!this.prediction(guildId, predictionId)) return { kind: 'gone' };
    const count = this.store.review.reject(predictionId, by);
    return count ? { kind: 'rejected', count } : this.stale(predictionId);
  }

  /** Why there is nothing to decide: an earlier review, or nothing was ever kept. */
  stale(predictionId: number): ReviewOutcome {
    const review = this.store.review.lastReview(predictionId);
    return review ? { kind: 'already', review } : { kind: 'gone' };
  }

  /** True while the photo still waits for a decision. */
  isPending(predictionId: number): boolean {
    return this.store.review.pendingContributions(predictionId).length > 0;
  }

  /**
   * A name typed by an admin: "not a flower", a species the model or the community knows
   * (matched forgivingly, as members' names are), or a new species under that name.
   */
  match(typed: string, p?: Prediction): VoteAnswer | undefined {
    if (NOT_A_FLOWER.has(normalizeName(typed))) return { kind: 'not_flower' };
    const m = matchSpecies(typed, { ...this.communityNames(), ...this.feedback.knownSpecies(p) });
    if (!m) return undefined;
    return m.kind === 'label' ? { kind: 'label', label: m.label } : { kind: 'new', name: m.name };
  }

  /** A label's species name: from the answer, the model, or the species members taught. */
  nameOf(label: string, p?: Prediction): string {
    const name = this.feedback.nameOf(label, p);
    return name !== label ? name : (this.communityNames()[label] ?? label);
  }

  private communityNames(): Record<string, string> {
    return Object.fromEntries(this.store.learning.communitySpecies().map((s) => [s.label, s.name]));
  }

  /** Members who must agree for a photo of this server to be approved without review; 0 = off. */
  autoApproveMembers(guildId: string | null): number {
    if (!guildId) return 0;
    const n = this.store.getGuildSetting(guildId, AUTO_APPROVE_KEY);
    return typeof n === 'number' && Number.isInteger(n) && n >= 0 && n <= AUTO_APPROVE_MAX ? n : 0;
  }

  setAutoApproveMembers(guildId: string, n: number): void {
    if (!Number.isInteger(n) || n < 0 || n > AUTO_APPROVE_MAX) throw new RangeError(`auto-approve must be 0–${AUTO_APPROVE_MAX}`);
    this.store.setGuildSetting(guildId, AUTO_APPROVE_KEY, n);
  }

  /** Pending photos of this server. */
  pendingCount(guildId: string): number {
    return this.store.review.pendingPhotos(guildId).length;
  }

  /**
   * The agreement rule, run after every vote (FeedbackSettings.afterVote): when at least
   * the server's threshold of members gave the same answer and nobody another, the photo's
   * pending contributions are approved by 'auto' under the same label rules as an admin's approval.
   */
  afterVote(p: Prediction): Approval | undefined {
    const agreed = this.store.review.agreedAnswer(this.store.feedback.tally(p.id), this.autoApproveMembers(p.guildId));
    if (!agreed) return undefined;
    // A new name is spelt as its first contributor typed it, as on an admin's approval.
    const decision = agreed.kind === 'new' ? (this.store.review.proposal(p.id)?.answer ?? agreed) : agreed;
    return this.store.review.approve(p.id, decision, AUTO_REVIEWER);
  }
}
