// One way in for photos, shared by the message listener and /identify:
// draining → cooldown → admission → identify → rendered reply. The entry points
// only choose how to reply (message reply, or deferred interaction with
// ephemeral failures); the user strings live here.
import { InternalError } from '../errors.ts';
import type { IdentifyContext, IdentifyOutcome, IdentifyRequest } from '../services/identifyService.ts';
import type { BotContext } from './context.ts';
import { renderIdentify, type ReplyPayload } from './render.ts';

/** Wording differs a little: a message can be "sent again", a command "tried again". */
export const REFUSALS = {
  message: {
    draining: 'I am restarting — please send that again in a minute.',
    cooldown: (s: number) => `Slow down a little 🌱 — I can look at your next photo in ${s} s.`,
  },
  slash: {
    draining: 'I am restarting — please try again in a minute.',
    cooldown: (s: number) => `Slow down a little 🌱 — try again in ${s} s.`,
  },
} as const;

export const busyMessage = (s: number) => `I'm busy with a lot of photos right now — please try again in ${s} s.`;

export interface PhotoRequest {
  entry: keyof typeof REFUSALS;
  /** Photos to identify; only the first config.maxImagesPerMessage are taken. */
  photos: IdentifyRequest[];
  who: Omit<IdentifyContext, 'userId'> & { userId: string };
  /** Extra fields for log lines about this request (messageId, interactionId). */
  logFields?: Record<string, unknown>;
}

export interface PhotoAnswer {
  outcome: IdentifyOutcome;
  payload: ReplyPayload;
  index: number;
}

/** How an entry point replies; the pipeline decides what. */
export interface PhotoReplier {
  /** Plain-text refusal: restarting, cooldown, busy. */
  refuse(text: string): Promise<void>;
  /** The first photo was admitted (typing indicator, deferred reply). */
  accepted(): Promise<void> | void;
  /** One photo's answer, a result or a failure. */
  answer(a: PhotoAnswer): Promise<void>;
}

export async function handlePhotos(ctx: BotContext, req: PhotoRequest, reply: PhotoReplier): Promise<void> {
  const say = REFUSALS[req.entry];
  if (ctx.draining()) return reply.refuse(say.draining);
  const wait = ctx.cooldowns.check(req.who.userId, req.who.guildId);
  if (wait > 0) return reply.refuse(say.cooldown(wait));

  const cap = ctx.config.maxImagesPerMessage;
  const chosen = req.photos.slice(0, cap);
  for (const [index, photo] of chosen.entries()) {
    const release = ctx.admission.tryEnter();
    if (!release) return reply.refuse(busyMessage(ctx.admission.retryAfterS()));
    try {
      if (index === 0) await reply.accepted();
      const outcome = await ctx.identify.identify(photo, req.who);
      if (outcome.kind === 'failed' && outcome.error instanceof InternalError) {
        ctx.log.error({ err: outcome.error.cause, logId: outcome.logId, ...req.logFields }, 'identify failed');
      }
      const payload = await renderIdentify(outcome);
      const note = index === chosen.length - 1 && req.photos.length > cap ? `I looked at the first ${cap} photos only.` : undefined;
      await reply.answer({ outcome, payload: note ? { ...payload, content: note } : payload, index });
    } finally {
      release();
    }
  }
}
