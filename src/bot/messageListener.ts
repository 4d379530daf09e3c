// Photos posted in watched channels (and DMs) get a reply per image.
import type { Message } from 'discord.js';
import { renderNotice, type ReplyPayload } from './render.ts';
import type { BotContext } from './context.ts';
import { isPhotoAttachment } from './photos.ts';
import { toMessage } from './replies.ts';

export function isWatched(ctx: BotContext, guildId: string, channelId: string): boolean {
  return ctx.config.watchChannels.includes(channelId) || ctx.store.isWatched(guildId, channelId);
}

async function safeReply(ctx: BotContext, msg: Message, payload: ReplyPayload): Promise<void> {
  try {
    await msg.reply(toMessage(payload));
  } catch (err) {
    // Missing permissions or a deleted message: nothing to tell the user through.
    ctx.log.warn({ err, channelId: msg.channelId, messageId: msg.id }, 'could not send reply');
  }
}

export async function onMessage(ctx: BotContext, msg: Message): Promise<void> {
  if (msg.author.bot || msg.system) return;
  const inDm = !msg.inGuild();
  if (!inDm && !isWatched(ctx, msg.guildId!, msg.channelId)) return;
  const photos = [...msg.attachments.values()].filter(isPhotoAttachment);
  if (photos.length === 0) return;
  if (ctx.draining()) return void (await safeReply(ctx, msg, renderNotice('I am restarting — please send that again in a minute.')));

  const wait = ctx.cooldowns.check(msg.author.id, msg.guildId);
  if (wait > 0) return void (await safeReply(ctx, msg, renderNotice(`Slow down a little 🌱 — I can look at your next photo in ${wait} s.`)));

  const cap = ctx.config.maxImagesPerMessage;
  const chosen = photos.slice(0, cap);
  for (const [i, a] of chosen.entries()) {
    const release = ctx.admission.tryEnter();
    if (!release) {
      await safeReply(ctx, msg, renderNotice(`I'm busy with a lot of photos right now — please try again in ${ctx.admission.retryAfterS()} s.`));
      return;
    }
    // Only for work we took on: a flood of refused photos must not become a flood of typing calls.
    if (i === 0 && 'sendTyping' in msg.channel) void msg.channel.sendTyping().catch(() => undefined);
    try {
      const r = await ctx.identify.identify(
        { url: a.url, fromAttachment: true, name: a.name, declaredSize: a.size },
        { source: 'message', sourceId: msg.id, guildId: msg.guildId, channelId: msg.channelId, userId: msg.author.id },
      );
      const note = i === chosen.length - 1 && photos.length > cap ? `I looked at the first ${cap} photos only.` : undefined;
      await safeReply(ctx, msg, note ? { ...r.payload, content: note } : r.payload);
    } catch (err) {
      ctx.log.error({ err, messageId: msg.id }, 'identify failed');
      await safeReply(ctx, msg, renderNotice((err as { userMessage?: string }).userMessage ?? 'Something went wrong on my side. Please try again.'));
    } finally {
      release();
    }
  }
}
