// Photos posted in watched channels (and DMs) get a reply per image.
import type { Message } from 'discord.js';
import { renderNotice, type ReplyPayload } from './render.ts';
import type { BotContext } from './context.ts';
import { handlePhotos } from './photoPipeline.ts';
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
  if (!inDm && !isWatched(ctx, msg.guildId, msg.channelId)) return;
  const photos = [...msg.attachments.values()].filter(isPhotoAttachment);
  if (photos.length === 0) return;
  await handlePhotos(
    ctx,
    {
      entry: 'message',
      photos: photos.map((a) => ({ url: a.url, fromAttachment: true, name: a.name, declaredSize: a.size })),
      who: { source: 'message', sourceId: msg.id, guildId: msg.guildId, channelId: msg.channelId, userId: msg.author.id },
      logFields: { messageId: msg.id },
    },
    {
      refuse: (text) => safeReply(ctx, msg, renderNotice(text)),
      // Only for work we took on: a flood of refused photos must not become a flood of typing calls.
      accepted: () => {
        if ('sendTyping' in msg.channel) void msg.channel.sendTyping().catch(() => undefined);
      },
      answer: (a) => safeReply(ctx, msg, a.payload),
    },
  );
}
