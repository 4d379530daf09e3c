// /review's buttons and modal: Approve, Reject, Relabel (a name, matched forgivingly),
// and ◀ / ▶. Only server admins may press them, whoever's message they are on; a
// decision on a photo someone already decided says so and changes nothing. After a
// decision the same private message moves on to the next photo.
import fs from 'node:fs';
import {
  AttachmentBuilder,
  type InteractionEditReplyOptions,
  type MessageComponentInteraction,
  type ModalSubmitInteraction,
} from 'discord.js';
import type { BotContext } from './context.ts';
import { isBotAdmin } from './permissions.ts';
import { EPHEMERAL } from './replies.ts';
import {
  decisionNote,
  parseReviewId,
  RELABEL_BAD_NAME,
  RELABEL_FIELD,
  relabelModal,
  REVIEW_ADMINS_ONLY,
  REVIEW_FAILED,
  REVIEW_GONE,
  REVIEW_UNKNOWN,
  reviewView,
  staleNote,
  type ReviewView,
} from './reviewRender.ts';

export type ReviewInteraction = MessageComponentInteraction | ModalSubmitInteraction;

const NO_MENTIONS = { parse: [] as [] };

/** The page as message options; the photo is read now (a missing file just shows no photo). */
async function toOptions(view: ReviewView): Promise<InteractionEditReplyOptions & { content: string }> {
  const bytes = view.photo && (await fs.promises.readFile(view.photo.file).catch(() => undefined));
  const embeds = bytes ? view.embeds : view.embeds.map(({ image: _image, ...e }) => e);
  return {
    content: view.content,
    embeds,
    components: view.components,
    // Listing no old attachment replaces the previous photo when a page is edited.
    files: bytes ? [new AttachmentBuilder(bytes, { name: view.photo!.name })] : [],
    attachments: [],
    allowedMentions: NO_MENTIONS,
  };
}

/** The review page `page` of this server (the first one for /review), with a note about the last action. */
export function reviewPage(
  ctx: BotContext,
  guildId: string,
  page: number,
  note = '',
): Promise<InteractionEditReplyOptions & { content: string }> {
  return toOptions(reviewView(ctx.review.page(guildId, page), (l) => ctx.review.nameOf(l), note));
}

async function say(i: ReviewInteraction, content: string): Promise<void> {
  if (i.deferred || i.replied) await i.followUp({ content, flags: EPHEMERAL, allowedMentions: NO_MENTIONS });
  else await i.reply({ content, flags: EPHEMERAL, allowedMentions: NO_MENTIONS });
}

export async function handleReview(i: ReviewInteraction, ctx: BotContext): Promise<void> {
  try {
    await review(i, ctx);
  } catch (err) {
    ctx.log.error({ err, customId: i.customId, interactionId: i.id }, 'review failed');
    await say(i, REVIEW_FAILED).catch(() => undefined);
  }
}

async function review(i: ReviewInteraction, ctx: BotContext): Promise<void> {
  const a = parseReviewId(i.customId);
  if (!a) return say(i, REVIEW_UNKNOWN);
  // Whoever's message the button is on (a shared one, a forged one): the presser must be an admin here.
  if (!i.inGuild() || !isBotAdmin(i.user.id, i.memberPermissions, ctx.config.ownerIds)) {
    ctx.log.warn({ userId: i.user.id, guildId: i.guildId, customId: i.customId }, 'review refused');
    return say(i, REVIEW_ADMINS_ONLY);
  }
  if (ctx.draining()) return say(i, 'I am restarting — please try again in a minute.');
  const guildId = i.guildId;
  const nameOf = (l: string) => ctx.review.nameOf(l);
  /** Moves the review message on to `page`, saying what just happened. */
  const show = async (page: number, note = '') => {
    if (i.isModalSubmit() && !i.isFromMessage()) await i.deferReply({ flags: EPHEMERAL });
    else await i.deferUpdate();
    await i.editReply(await reviewPage(ctx, guildId, page, note));
  };

  if (a.action === 'page') return show(a.page);
  if (a.action === 'relabel') {
    if (!ctx.review.prediction(guildId, a.predictionId)) return say(i, REVIEW_GONE);
    if (!ctx.review.isPending(a.predictionId)) return say(i, staleNote(ctx.review.stale(a.predictionId), nameOf));
    if (!i.isButton()) return say(i, REVIEW_UNKNOWN);
    return i.showModal(relabelModal(a.predictionId, a.page));
  }

  let outcome;
  if (a.action === 'relabeled') {
    if (!i.isModalSubmit()) return say(i, REVIEW_UNKNOWN);
    const decision = ctx.review.match(i.fields.getTextInputValue(RELABEL_FIELD), ctx.review.prediction(guildId, a.predictionId));
    if (!decision) return say(i, RELABEL_BAD_NAME);
    outcome = ctx.review.approve(guildId, a.predictionId, i.user.id, decision);
  } else if (a.action === 'approve') outcome = ctx.review.approve(guildId, a.predictionId, i.user.id);
  else outcome = ctx.review.reject(guildId, a.predictionId, i.user.id);

  if (outcome.kind === 'already' || outcome.kind === 'gone') return say(i, staleNote(outcome, nameOf));
  ctx.log.info({ predictionId: a.predictionId, by: i.user.id, action: a.action, outcome }, 'review');
  await show(a.page, decisionNote(outcome, nameOf));
}
