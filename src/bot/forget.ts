// /forget's confirmation: "Yes, forget me" removes the member's votes and kept photos
// and unlinks their identifications; only the member who asked may press it.
import type { MessageComponentInteraction } from 'discord.js';
import type { ForgetOutcome, MemberData } from '../services/forgetService.ts';
import type { MessageRow } from './feedbackRender.ts';
import type { BotContext } from './context.ts';
import { EPHEMERAL } from './replies.ts';

export const FORGET_PREFIX = 'fg:';

const BUTTON = 2;
const ROW = 1;
const STYLE = { secondary: 2, danger: 4 };
const NO_MENTIONS = { parse: [] as [] };

export const forgetId = {
  yes: (userId: string) => `fg:yes:${userId}`,
  no: (userId: string) => `fg:no:${userId}`,
};

export function parseForgetId(id: string): { action: 'yes' | 'no'; userId: string } | undefined {
  const m = /^fg:(yes|no):(\d{5,25})$/.exec(id);
  return m ? { action: m[1] as 'yes' | 'no', userId: m[2]! } : undefined;
}

const count = (n: number, one: string, many: string) => `${n} ${n === 1 ? one : many}`;

/** The question, with what would be removed; undefined when there is nothing to forget. */
export function forgetQuestion(userId: string, d: MemberData): { content: string; components: MessageRow[] } | undefined {
  if (!d.votes && !d.contributions && !d.predictions) return undefined;
  return {
    content: [
      'This removes, for every server I am in:',
      `• your ${count(d.votes, 'vote', 'votes')} on my answers`,
      `• the ${count(d.contributions, 'photo', 'photos')} I kept because of your feedback (a photo other members kept too stays for them)`,
      `• your name from ${count(d.predictions, 'identification', 'identifications')} of photos you posted (the results stay in my log, without you)`,
      'It cannot be undone. Forget you?',
    ].join('\n'),
    components: [
      {
        type: ROW,
        components: [
          { type: BUTTON, style: STYLE.danger, custom_id: forgetId.yes(userId), label: 'Yes, forget me' },
          { type: BUTTON, style: STYLE.secondary, custom_id: forgetId.no(userId), label: 'Cancel' },
        ],
      },
    ],
  };
}

export function forgetDone(o: ForgetOutcome): string {
  const files = [
    o.filesDeleted ? `${count(o.filesDeleted, 'photo file', 'photo files')} deleted` : '',
    o.sharedPhotos ? `${count(o.sharedPhotos, 'photo stays', 'photos stay')} because other members kept it too` : '',
  ].filter(Boolean);
  return [
    'Done — I forgot you:',
    `• ${count(o.votes, 'vote', 'votes')} removed`,
    `• ${count(o.contributions, 'kept photo', 'kept photos')} removed${files.length ? ` (${files.join('; ')})` : ''}`,
    `• ${count(o.predictions, 'identification', 'identifications')} no longer linked to you (their user id is now empty)`,
    'Tallies already shown under my answers are not redrawn.',
  ].join('\n');
}

export const NOTHING_TO_FORGET = 'I have nothing stored about you: no votes, no kept photos, no identifications linked to you.';

export async function handleForget(i: MessageComponentInteraction, ctx: BotContext): Promise<void> {
  const say = (content: string) => i.reply({ content, flags: EPHEMERAL, allowedMentions: NO_MENTIONS });
  try {
    const a = parseForgetId(i.customId);
    if (!a || !i.isButton()) return void (await say("That button doesn't do anything any more."));
    if (a.userId !== i.user.id)
      return void (await say('This button is for the member who asked me to forget them. To remove your own data, use /forget.'));
    if (a.action === 'no') return void (await i.update({ content: 'Nothing was removed.', components: [], allowedMentions: NO_MENTIONS }));
    if (ctx.draining()) return void (await say('I am restarting — please try again in a minute.'));
    await i.deferUpdate();
    const outcome = await ctx.forget.forget(i.user.id);
    ctx.log.info({ userId: i.user.id, ...outcome }, 'member forgotten');
    await i.editReply({ content: forgetDone(outcome), components: [], allowedMentions: NO_MENTIONS });
  } catch (err) {
    ctx.log.error({ err, customId: i.customId, interactionId: i.id }, 'forget failed');
    const content = 'Something went wrong on my side while removing your data. Please try again in a moment.';
    await (i.deferred || i.replied ? i.followUp({ content, flags: EPHEMERAL }) : say(content)).catch(() => undefined);
  }
}
