// Pure pieces of /review: the page of one photo (embed, buttons, paging), the relabel
// modal, the notes after a decision and the refusals. custom_ids carry the action,
// the prediction id and the page, so a review message keeps working after a restart.
import type { APIEmbed, APIModalInteractionResponseCallbackData } from 'discord.js';
import type { ReviewItem, ReviewOutcome } from '../services/reviewService.ts';
import { AUTO_REVIEWER } from '../services/reviewService.ts';
import type { Review, VoteAnswer } from '../storage/index.ts';
import { describeAnswer, TALLY_MARK, tallyLine, type MessageRow } from './feedbackRender.ts';

const BUTTON = 2;
const TEXT_INPUT = 4;
const ROW = 1;
const STYLE = { primary: 1, secondary: 2, success: 3, danger: 4 };

export const REVIEW_PREFIX = 'rv:';

export type ReviewAction =
  { action: 'approve' | 'reject' | 'relabel' | 'relabeled'; predictionId: number; page: number } | { action: 'page'; page: number };

export const reviewId = {
  approve: (id: number, page: number) => `rv:approve:${id}:${page}`,
  reject: (id: number, page: number) => `rv:reject:${id}:${page}`,
  relabel: (id: number, page: number) => `rv:relabel:${id}:${page}`,
  relabelModal: (id: number, page: number) => `rv:relabeled:${id}:${page}`,
  /** ◀ and ▶ differ by their direction too: custom_ids must be unique on a message. */
  page: (page: number, dir: 'prev' | 'next') => `rv:page:${page}:${dir}`,
};

/** Undefined for anything that is not one of ours, or malformed. */
export function parseReviewId(id: string): ReviewAction | undefined {
  const page = /^rv:page:(\d{1,6}):(?:prev|next)$/.exec(id);
  if (page) return { action: 'page', page: Number(page[1]) };
  const m = /^rv:(approve|reject|relabel|relabeled):(\d{1,15}):(\d{1,6})$/.exec(id);
  return m ? { action: m[1] as 'approve', predictionId: Number(m[2]), page: Number(m[3]) } : undefined;
}

export const photoName = (predictionId: number) => `review-${predictionId}.jpg`;

const title = (s: string) => s.replace(/\b\p{L}/gu, (c) => c.toUpperCase());
const when = (iso: string) => `<t:${Math.floor(Date.parse(iso) / 1000)}:R>`;

/** How an answer reads to an admin: a species name, "X (a new species)", or "not a flower". */
export function describeDecision(a: VoteAnswer, nameOf: (label: string) => string): string {
  return a.kind === 'new' ? `${a.name} (a new species)` : describeAnswer(a, nameOf);
}

export interface ReviewView {
  content: string;
  embeds: APIEmbed[];
  components: MessageRow[];
  /** The photo to attach (the embed shows it as attachment://name). */
  photo?: { file: string; name: string };
}

/** One page of the queue, or "nothing left" once it is empty; `note` says what the last action did. */
export function reviewView(item: ReviewItem | undefined, nameOf: (label: string) => string, note = ''): ReviewView {
  if (!item) return { content: [note, 'Nothing left to review. 🌼'].filter(Boolean).join('\n'), embeds: [], components: [] };
  const p = item.prediction;
  const kept = item.contributions.length;
  const votes = tallyLine(item.tally, p, nameOf).replace(`${TALLY_MARK} `, '');
  const said = p.top1Label ? `${title(p.top1Name ?? nameOf(p.top1Label))} (${Math.round((p.top1Probability ?? 0) * 100)}%)` : '—';
  const name = item.photoFile ? photoName(p.id) : undefined;
  const lines = [
    `**Proposed:** ${describeDecision(item.proposal.answer, nameOf)} — ${item.proposal.count} of the ${kept} member${kept === 1 ? '' : 's'} who kept it`,
    `**Votes:** ${votes || '—'}`,
    `**I said:** ${said}`,
    `**Posted** ${p.userId ? `by <@${p.userId}> ` : ''}${when(p.createdAt)}${p.channelId ? ` in <#${p.channelId}>` : ''}`,
    ...(item.photoFile ? [] : ['_The photo file is missing: reject it, or approve it without the photo._']),
  ];
  const page = item.index;
  return {
    content: note,
    embeds: [
      {
        color: 0x57f287,
        title: '🔎 A photo to review',
        description: lines.join('\n'),
        ...(name && { image: { url: `attachment://${name}` } }),
        footer: { text: `Page ${page + 1} of ${item.total}` },
      },
    ],
    components: [
      {
        type: ROW,
        components: [
          { type: BUTTON, style: STYLE.success, custom_id: reviewId.approve(p.id, page), label: 'Approve', emoji: { name: '✅' } },
          { type: BUTTON, style: STYLE.danger, custom_id: reviewId.reject(p.id, page), label: 'Reject', emoji: { name: '🗑️' } },
          { type: BUTTON, style: STYLE.primary, custom_id: reviewId.relabel(p.id, page), label: 'Relabel', emoji: { name: '✏️' } },
        ],
      },
      {
        type: ROW,
        components: [
          {
            type: BUTTON,
            style: STYLE.secondary,
            custom_id: reviewId.page(Math.max(0, page - 1), 'prev'),
            label: '◀',
            disabled: page === 0,
          },
          {
            type: BUTTON,
            style: STYLE.secondary,
            custom_id: reviewId.page(Math.min(item.total - 1, page + 1), 'next'),
            label: '▶',
            disabled: page >= item.total - 1,
          },
        ],
      },
    ],
    ...(item.photoFile && name && { photo: { file: item.photoFile, name } }),
  };
}

export const RELABEL_FIELD = 'species';

export function relabelModal(predictionId: number, page: number): APIModalInteractionResponseCallbackData {
  return {
    custom_id: reviewId.relabelModal(predictionId, page),
    title: 'What is in this photo?',
    components: [
      {
        type: ROW,
        components: [
          {
            type: TEXT_INPUT,
            custom_id: RELABEL_FIELD,
            style: 1,
            label: 'Species name, or "not a flower"',
            placeholder: 'e.g. Lenten Rose',
            min_length: 2,
            max_length: 80,
            required: true,
          },
        ],
      },
    ],
  };
}

/** What a decision did, shown above the next photo. */
export function decisionNote(o: ReviewOutcome, nameOf: (label: string) => string): string {
  if (o.kind === 'rejected')
    return `🗑️ Rejected: it won't be trained on (${o.count === 1 ? '1 contribution' : `${o.count} contributions`}).`;
  if (o.kind !== 'approved') return '';
  const n = o.approval.approved === 1 ? '1 contribution' : `${o.approval.approved} contributions`;
  if (o.approval.finalLabel === null) return `✅ Approved as **not a flower** (${n}): it won't be trained on as a flower.`;
  const created = o.approval.createdSpecies ? ` — a new species, \`${o.approval.finalLabel}\`` : '';
  return `✅ Approved as **${o.decision.kind === 'new' ? o.decision.name : describeDecision(o.decision, nameOf)}**${created} (${n}); the next /retrain learns from it.`;
}

/** Why a review button changed nothing. */
export function staleNote(o: ReviewOutcome, nameOf: (label: string) => string): string {
  if (o.kind !== 'already') return REVIEW_GONE;
  const r: Review = o.review;
  const who = r.reviewedBy === AUTO_REVIEWER ? 'members agreeing (auto-approve)' : r.reviewedBy ? `<@${r.reviewedBy}>` : 'someone';
  const as = r.status === 'approved' ? ` as **${r.finalLabel ? title(nameOf(r.finalLabel)) : 'not a flower'}**` : '';
  return `This photo was already ${r.status} by ${who}${as}${r.reviewedAt ? ` ${when(r.reviewedAt)}` : ''}. Nothing changed.`;
}

export const REVIEW_GONE = "I can't find that photo in this server's review queue, so there is nothing to decide.";
export const REVIEW_ADMINS_ONLY = 'Only server admins can review photos.';
export const REVIEW_UNKNOWN = "That button doesn't do anything any more.";
export const REVIEW_FAILED = 'Something went wrong on my side while saving the review. Please try again in a moment.';
export const RELABEL_BAD_NAME = 'Please type the name of a species (letters, not just symbols), or "not a flower".';
