// One way in for photos, shared by the message listener and /identify:
// draining → the user's photos in flight → cooldown → download slot → download
// → model slot → identify → rendered reply. The entry points only choose how to
// reply (message reply, or deferred interaction with ephemeral failures); the
// user strings live here.
//
// Slots (issue 14): a download can take up to BLOOM_DOWNLOAD_TIMEOUT_S on a slow
// link, so it holds a download slot, never a model slot; only a photo whose
// bytes are in hand takes a model slot (BLOOM_QUEUE_LIMIT), for decode and
// classification. Downloads come from two pools of BLOOM_DOWNLOAD_SLOTS each:
// `url:` links, which anyone can point at a server that trickles, and Discord
// attachments, which only come from the CDN hosts and are not at the mercy of
// a user's server. So trickling links can at worst fill the `url:` pool (and
// get "busy"): a photo posted in a watched channel still downloads and is
// answered. BLOOM_USER_IN_FLIGHT caps what one account holds, and DMs share one
// cooldown bucket, so a few accounts cannot take a whole pool quickly either.
import { InternalError } from '../errors.ts';
import type { Admission } from '../services/admission.ts';
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

export const inFlightMessage = (n: number) =>
  `You already have ${n} photo${n === 1 ? '' : 's'} being looked at — wait for those answers first.`;

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
  /** Plain-text refusal: restarting, photos in flight, cooldown, busy (possibly after started). */
  refuse(text: string): Promise<void>;
  /** A photo's download was admitted, the first time only: a reply that must begin in time (a deferred interaction) begins here. */
  started?(): Promise<void> | void;
  /** A photo was admitted to the model, the first time only (typing indicator). */
  accepted(): Promise<void> | void;
  /** One photo's answer, a result or a failure. */
  answer(a: PhotoAnswer): Promise<void>;
}

export async function handlePhotos(ctx: BotContext, req: PhotoRequest, reply: PhotoReplier): Promise<void> {
  const say = REFUSALS[req.entry];
  const { userId } = req.who;
  const tooMany = () => reply.refuse(inFlightMessage(ctx.userInFlight.count(userId)));
  if (ctx.draining()) return reply.refuse(say.draining);
  // Before the cooldown, so a refused request does not start one.
  if (ctx.userInFlight.count(userId) >= ctx.userInFlight.limit) return tooMany();
  const wait = ctx.cooldowns.check(userId, req.who.guildId);
  if (wait > 0) return reply.refuse(say.cooldown(wait));

  const cap = ctx.config.maxImagesPerMessage;
  const chosen = req.photos.slice(0, cap);
  let started = false,
    accepted = false;
  for (const [index, photo] of chosen.entries()) {
    // The model is full right now: say so before spending a download on it.
    if (ctx.admission.full) return reply.refuse(busyMessage(ctx.admission.retryAfterS()));
    const mine = ctx.userInFlight.tryEnter(userId);
    if (!mine) return tooMany();
    try {
      const pool: Admission | undefined = photo.bytes ? undefined : photo.fromAttachment ? ctx.downloads.attachment : ctx.downloads.url;
      const download = pool ? pool.tryEnter() : () => {};
      if (!download) return await reply.refuse(busyMessage(pool!.retryAfterS()));
      let fetched;
      try {
        if (!started) await reply.started?.();
        started = true;
        fetched = await ctx.identify.fetchPhoto(photo, req.who);
      } finally {
        download();
      }
      let outcome: IdentifyOutcome, payload: ReplyPayload;
      if (fetched.kind === 'failed') {
        outcome = fetched;
        payload = await renderIdentify(outcome);
      } else {
        const model = ctx.admission.tryEnter();
        if (!model) return await reply.refuse(busyMessage(ctx.admission.retryAfterS()));
        try {
          if (!accepted) await reply.accepted();
          accepted = true;
          outcome = await ctx.identify.identifyFetched(fetched, req.who);
          payload = await renderIdentify(outcome);
        } finally {
          model();
        }
      }
      if (outcome.kind === 'failed' && outcome.error instanceof InternalError) {
        ctx.log.error({ err: outcome.error.cause, logId: outcome.logId, ...req.logFields }, 'identify failed');
      }
      const note = index === chosen.length - 1 && req.photos.length > cap ? `I looked at the first ${cap} photos only.` : undefined;
      await reply.answer({ outcome, payload: note ? { ...payload, content: note } : payload, index });
    } finally {
      mine();
    }
  }
}
