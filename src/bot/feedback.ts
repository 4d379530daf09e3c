// Buttons, the menu and the modal under an answer: ✅ Right / ❌ Wrong → pick a
// candidate, type a name, or "not a flower". Every state lives in the custom_id
// and SQLite, so a button from before a restart still works. Each step answers
// within Discord's 3 s (a reply, a modal, or a deferral first).
import { Routes, type APIMessage, type MessageComponentInteraction, type ModalSubmitInteraction } from 'discord.js';
import type { VoteAnswer } from '../storage/index.ts';
import type { BotContext } from './context.ts';
import {
  confirmation,
  FEEDBACK_FAILED,
  FEEDBACK_GONE,
  FEEDBACK_UNKNOWN,
  NAME_FIELD,
  nameModal,
  parseCustomId,
  PICK,
  staleCandidate,
  tallyLine,
  withTally,
  wrongMenu,
  WRONG_PROMPT,
} from './feedbackRender.ts';
import { EPHEMERAL } from './replies.ts';

export type FeedbackInteraction = MessageComponentInteraction | ModalSubmitInteraction;

const NO_MENTIONS = { parse: [] as [] };
const RESTARTING = 'I am restarting — please try again in a minute.';

/** Tally edits of one answer, one at a time (a read, then a write of its content). */
const tallyQueues = new Map<string, Promise<void>>();

function serialized(key: string, job: () => Promise<void>): Promise<void> {
  const next = (tallyQueues.get(key) ?? Promise.resolve()).then(job, job);
  const tail = next.catch(() => undefined);
  tallyQueues.set(key, tail);
  void tail.then(() => tallyQueues.get(key) === tail && tallyQueues.delete(key));
  return next;
}

/** Rewrites the tally line of the answer message (keeping the rest of its content). */
function updateTally(i: FeedbackInteraction, ctx: BotContext, messageId: string, predictionId: number): Promise<void> {
  const channelId = i.channelId;
  if (!channelId) return Promise.resolve();
  return serialized(messageId, async () => {
    const p = ctx.feedback.prediction(predictionId);
    if (!p) return;
    const line = tallyLine(ctx.feedback.tally(p.id), p, (l) => ctx.feedback.nameOf(l, p));
    const route = Routes.channelMessage(channelId, messageId);
    const msg = (await i.client.rest.get(route)) as APIMessage;
    const content = withTally(msg.content, line);
    if (content !== msg.content) await i.client.rest.patch(route, { body: { content, allowed_mentions: NO_MENTIONS } });
  });
}

async function say(i: FeedbackInteraction, content: string): Promise<void> {
  if (i.deferred || i.replied) await i.editReply({ content, components: [], allowedMentions: NO_MENTIONS });
  else await i.reply({ content, flags: EPHEMERAL, allowedMentions: NO_MENTIONS });
}

export async function handleFeedback(i: FeedbackInteraction, ctx: BotContext): Promise<void> {
  try {
    await feedback(i, ctx);
  } catch (err) {
    ctx.log.error({ err, customId: i.customId, interactionId: i.id }, 'feedback failed');
    await say(i, FEEDBACK_FAILED).catch(() => undefined);
  }
}

async function feedback(i: FeedbackInteraction, ctx: BotContext): Promise<void> {
  const a = parseCustomId(i.customId);
  if (!a) return say(i, FEEDBACK_UNKNOWN);
  if (ctx.draining()) return say(i, RESTARTING);
  const p = ctx.feedback.prediction(a.predictionId);
  if (!p) return say(i, FEEDBACK_GONE);
  const nameOf = (l: string) => ctx.feedback.nameOf(l, p);

  let answer: VoteAnswer;
  let messageId: string;
  if (a.action === 'right' || a.action === 'wrong') {
    if (!i.isButton()) return say(i, FEEDBACK_UNKNOWN);
    messageId = i.message.id;
    if (a.action === 'wrong') {
      return void (await i.reply({
        content: WRONG_PROMPT,
        // Only candidates the live model still knows (the answer may be from an earlier model).
        components: wrongMenu(
          { ...p, topK: p.topK.filter((e) => e.label === p.top1Label || ctx.feedback.currentLabel(e.label, e.name)) },
          messageId,
        ),
        flags: EPHEMERAL,
        allowedMentions: NO_MENTIONS,
      }));
    }
    answer = { kind: 'label', label: p.top1Label! };
    await i.deferReply({ flags: EPHEMERAL });
  } else if (a.action === 'pick') {
    if (!i.isStringSelectMenu()) return say(i, FEEDBACK_UNKNOWN);
    messageId = a.messageId;
    const value = i.values[0] ?? '';
    if (value === PICK.other) return i.showModal(nameModal(p.id, messageId));
    if (value === PICK.notFlower) answer = { kind: 'not_flower' };
    else {
      const picked = value.startsWith('label:') ? value.slice('label:'.length) : '';
      if (!p.topK.some((e) => e.label === picked)) return say(i, FEEDBACK_UNKNOWN);
      // The menu was built for the model that answered; the live one may be another (rollback, retrain).
      const label = ctx.feedback.currentLabel(picked, nameOf(picked));
      if (label === undefined) return say(i, staleCandidate(nameOf(picked)));
      answer = { kind: 'label', label };
    }
    // The menu is replaced by the confirmation.
    await i.deferUpdate();
  } else {
    if (!i.isModalSubmit() || a.action !== 'name') return say(i, FEEDBACK_UNKNOWN);
    messageId = a.messageId;
    const typed = i.fields.getTextInputValue(NAME_FIELD);
    const match = ctx.feedback.match(typed, p);
    if (!match) return say(i, 'Please type the name of a species (letters, not just symbols).');
    // A name of the old answer's candidates that the live model no longer knows is a species to learn again.
    const label = match.kind === 'label' ? ctx.feedback.currentLabel(match.label, match.name) : undefined;
    answer = label !== undefined ? { kind: 'label', label } : { kind: 'new', name: match.name };
    if (i.isFromMessage()) await i.deferUpdate();
    else await i.deferReply({ flags: EPHEMERAL });
  }

  const outcome = await ctx.feedback.vote(p, i.user.id, answer);
  ctx.log.info({ predictionId: p.id, userId: i.user.id, answer, result: outcome.result, photo: outcome.photo }, 'feedback');
  await i.editReply({ content: confirmation(outcome, answer, nameOf), components: [], allowedMentions: NO_MENTIONS });
  if (outcome.result !== 'same') {
    await updateTally(i, ctx, messageId, p.id).catch((err: unknown) => ctx.log.warn({ err, messageId }, 'could not update the tally'));
  }
}
