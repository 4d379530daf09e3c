// Feedback on answers: one vote per member per photo (changeable), the tally,
// and the photo kept as a contribution only once someone gave feedback on it
// (re-encoded: no EXIF/GPS, capped size; content-addressed; a per-member daily cap).
// Domain results only: src/bot/feedback.ts turns them into Discord replies.
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';
import type { Prediction, Store, TallyEntry, VoteAnswer, VoteResult } from '../storage/index.ts';

export interface FeedbackSettings {
  /** Root of the kept photos: <contribDir>/<sha256[0:2]>/<sha256>.jpg. */
  contribDir: string;
  /** Pending contributions one member may add in 24 hours. */
  dailyCap: number;
  /** Long side of a kept photo, in pixels. */
  maxSide?: number;
  /** The recent-photo cache: how many and for how long photos wait in memory for a vote. */
  cacheItems?: number;
  cacheMs?: number;
  /** Downloads a photo again from its source URL (after a restart, or once it left the cache). */
  download?: (url: string) => Promise<Buffer>;
  /** Told after every vote, once its photo is kept (the review's agreement rule hooks in here). */
  afterVote?: (p: Prediction) => void;
  now?: () => number;
}

/** What happened to the photo when a member gave feedback. */
export type PhotoOutcome =
  | 'kept' // stored now as this member's contribution
  | 'already' // this member's contribution was stored before (its answer follows the vote)
  | 'capped' // the member reached the daily cap: vote counted, photo not kept
  | 'unavailable' // neither in memory nor downloadable any more: vote counted, photo not kept
  | 'unchanged'; // the same vote again: nothing to do

export interface FeedbackOutcome {
  result: VoteResult;
  photo: PhotoOutcome;
  tally: TallyEntry[];
  prediction: Prediction;
}

/** A name typed by a member, matched against the species the model knows. */
export type SpeciesMatch = { kind: 'label'; label: string; name: string } | { kind: 'new'; name: string };

/** Case, diacritics, spacing and punctuation do not matter. */
export const normalizeName = (s: string): string =>
  s
    .normalize('NFKD')
    .replace(/\p{M}/gu, '')
    .toLowerCase()
    .replace(/[^\p{L}\p{N}]+/gu, '');

export function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++) cur[j] = Math.min(prev[j]! + 1, cur[j - 1]! + 1, prev[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    prev = cur;
  }
  return prev[b.length]!;
}

/**
 * The known species a typed name means: an exact match after normalising, else the
 * single closest name within a small edit distance (about one typo per five letters);
 * otherwise a proposed new species under the name as typed (trimmed, spaces collapsed).
 */
export function matchSpecies(typed: string, names: Record<string, string>): SpeciesMatch | undefined {
  // Only what a species name needs: no markdown, mentions or emoji in a name shown to the channel.
  const clean = typed
    .replace(/[^\p{L}\p{N}\s'’().,-]/gu, '')
    .replace(/\s+/g, ' ')
    .trim()
    .slice(0, 80);
  const key = normalizeName(clean);
  if (!key) return undefined;
  const entries = Object.entries(names).map(([label, name]) => ({ label, name, key: normalizeName(name) }));
  const exact = entries.find((e) => e.key === key);
  if (exact) return { kind: 'label', label: exact.label, name: exact.name };
  const limit = Math.max(1, Math.floor(key.length / 5));
  const scored = entries
    .map((e) => ({ ...e, d: editDistance(key, e.key) }))
    .filter((e) => e.d <= limit)
    .sort((a, b) => a.d - b.d);
  if (scored.length && (scored.length === 1 || scored[1]!.d > scored[0]!.d))
    return { kind: 'label', label: scored[0]!.label, name: scored[0]!.name };
  return { kind: 'new', name: clean };
}

/**
 * The last photos identified, by prediction id, waiting for a vote: bounded in
 * count, total bytes and age. Bytes matter: 200 photos of up to 10 MB each
 * would hold 2 GB; past the budget the oldest go (a vote on them re-downloads).
 */
export class PhotoCache {
  private readonly items = new Map<number, { bytes: Buffer; at: number }>();
  private total = 0;
  constructor(
    private readonly maxItems: number,
    private readonly maxAgeMs: number,
    private readonly now: () => number = Date.now,
    private readonly maxBytes = 64 * 1024 * 1024,
  ) {}

  put(id: number, bytes: Buffer): void {
    this.drop(id);
    this.items.set(id, { bytes, at: this.now() });
    this.total += bytes.length;
    for (const [oldest, { at }] of this.items) {
      const expired = this.now() - at > this.maxAgeMs;
      if (!expired && this.items.size <= this.maxItems && this.total <= this.maxBytes) break;
      this.drop(oldest);
    }
  }

  get(id: number): Buffer | undefined {
    const hit = this.items.get(id);
    if (hit && this.now() - hit.at > this.maxAgeMs) this.drop(id);
    else return hit?.bytes;
    return undefined;
  }

  get size(): number {
    return this.items.size;
  }

  get bytes(): number {
    return this.total;
  }

  private drop(id: number): void {
    const hit = this.items.get(id);
    if (!hit) return;
    this.total -= hit.bytes.length;
    this.items.delete(id);
  }
}

export const DAY_MS = 86_400_000;

export class FeedbackService {
  readonly photos: PhotoCache;
  private readonly now: () => number;

  constructor(
    private readonly store: Store,
    private readonly species: () => Record<string, string>,
    private readonly s: FeedbackSettings,
  ) {
    this.now = s.now ?? Date.now;
    this.photos = new PhotoCache(s.cacheItems ?? 200, s.cacheMs ?? 15 * 60_000, this.now);
  }

  /** Called for every identified photo: its bytes wait here for a vote (IdentifySettings.keepPhoto). */
  remember(predictionId: number, bytes: Buffer): void {
    this.photos.put(predictionId, bytes);
  }

  /** A prediction feedback can be given on: a successful one with candidates. */
  prediction(id: number): Prediction | undefined {
    const p = Number.isSafeInteger(id) && id > 0 ? this.store.getPrediction(id) : undefined;
    return p && p.errorCode === null && p.topK.length ? p : undefined;
  }

  /** Known species (label → name), for matching typed names. */
  knownSpecies(p?: Prediction): Record<string, string> {
    return { ...Object.fromEntries((p?.topK ?? []).map((e) => [e.label, e.name])), ...this.species() };
  }

  match(typed: string, p?: Prediction): SpeciesMatch | undefined {
    return matchSpecies(typed, this.knownSpecies(p));
  }

  /**
   * The label a species (its label and name in an older answer) stands for in the live model. Labels are data set
   * folder names, so after a rollback or a retrain on another label set the same label may be
   * gone, or name another species: we go by the species' name, which is what the member picked.
   * The label itself when the live model (or a species members are teaching) still has it under
   * that name; else the live label of that name; undefined when Bloom no longer knows the species
   * (the caller refuses the pick rather than record a vote it could not train on).
   */
  currentLabel(label: string, name: string): string | undefined {
    const shown = normalizeName(name);
    const live = Object.entries(this.species()).map(([l, name]) => ({ label: l, name }));
    const known = [...live, ...this.store.learning.communitySpecies().filter((c) => !live.some((e) => e.label === c.label))];
    return (
      known.find((e) => e.label === label && normalizeName(e.name) === shown)?.label ??
      known.find((e) => normalizeName(e.name) === shown)?.label
    );
  }

  nameOf(label: string, p?: Prediction): string {
    return p?.topK.find((e) => e.label === label)?.name ?? this.species()[label] ?? label;
  }

  tally(predictionId: number): TallyEntry[] {
    return this.store.feedback.tally(predictionId);
  }

  /** Records a member's vote and keeps the photo as their contribution (unless capped or gone). */
  async vote(prediction: Prediction, userId: string, answer: VoteAnswer): Promise<FeedbackOutcome> {
    const outcome = await this.record(prediction, userId, answer);
    this.s.afterVote?.(prediction);
    return outcome;
  }

  private async record(prediction: Prediction, userId: string, answer: VoteAnswer): Promise<FeedbackOutcome> {
    const fb = this.store.feedback;
    const result = fb.vote(prediction.id, userId, answer);
    const done = (photo: PhotoOutcome): FeedbackOutcome => ({ result, photo, tally: fb.tally(prediction.id), prediction });
    if (result === 'same') return done('unchanged');
    if (fb.getContribution(prediction.id, userId)) return done('already');
    const since = new Date(this.now() - DAY_MS).toISOString();
    if (fb.pendingContributionsSince(userId, since) >= this.s.dailyCap) return done('capped');
    const bytes = await this.photoBytes(prediction);
    if (!bytes) return done('unavailable');
    const kept = await this.keep(bytes);
    // The vote may have changed while the photo was being stored: the contribution takes the latest.
    const latest = fb.getVote(prediction.id, userId)?.answer ?? answer;
    if (!fb.getContribution(prediction.id, userId))
      fb.addContribution({ ...kept, predictionId: prediction.id, answer: latest, createdBy: userId });
    return done('kept');
  }

  /** The photo's bytes: from memory, else downloaded again; only if they are the photo that was identified. */
  private async photoBytes(p: Prediction): Promise<Buffer | undefined> {
    let bytes = this.photos.get(p.id);
    if (!bytes && p.imageUrl && this.s.download) bytes = await this.s.download(p.imageUrl).catch(() => undefined);
    if (!bytes) return undefined;
    if (p.imageSha256 && crypto.createHash('sha256').update(bytes).digest('hex') !== p.imageSha256) return undefined;
    this.photos.put(p.id, bytes);
    return bytes;
  }

  /** Re-encoded (sharp drops EXIF/GPS and every other metadata), capped, stored under its own hash. */
  private async keep(bytes: Buffer): Promise<{ sha256: string; path: string; bytes: number }> {
    const side = this.s.maxSide ?? 1024;
    const jpeg = await sharp(bytes, { failOn: 'none' })
      .rotate()
      .resize(side, side, { fit: 'inside', withoutEnlargement: true })
      .jpeg({ quality: 88 })
      .toBuffer();
    const sha256 = crypto.createHash('sha256').update(jpeg).digest('hex');
    const rel = path.join(sha256.slice(0, 2), `${sha256}.jpg`);
    const file = path.join(this.s.contribDir, rel);
    if (!fs.existsSync(file)) {
      await fs.promises.mkdir(path.dirname(file), { recursive: true });
      const tmp = `${file}.${process.pid}.${crypto.randomBytes(4).toString('hex')}.tmp`;
      await fs.promises.writeFile(tmp, jpeg);
      await fs.promises.rename(tmp, file);
    }
    return { sha256, path: rel, bytes: jpeg.length };
  }
}
