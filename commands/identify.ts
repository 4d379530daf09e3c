import { InteractionContextType, SlashCommandBuilder } from 'discord.js';
import { isPhotoAttachment } from '../src/bot/photos.ts';
import { EPHEMERAL, toMessage } from '../src/bot/replies.ts';
import type { Command } from './types.ts';
import { replyEphemeral } from './guards.ts';

export const identify: Command = {
  data: new SlashCommandBuilder()
    .setName('identify')
    .setDescription('Name the flower in a photo')
    .setContexts(InteractionContextType.Guild, InteractionContextType.BotDM)
    .addAttachmentOption((o) => o.setName('image').setDescription('A photo of one flower'))
    .addStringOption((o) => o.setName('url').setDescription('…or a link to a photo').setMaxLength(2000)),

  async execute(i, ctx) {
    const image = i.options.getAttachment('image');
    const url = i.options.getString('url');
    if (!image && !url) return replyEphemeral(i, 'Attach a photo with `image:` or paste a link with `url:`.');
    if (image && !isPhotoAttachment(image)) return replyEphemeral(i, `\`${image.name}\` isn't a photo. Please attach a JPEG, PNG, WebP, GIF, TIFF or AVIF image.`);
    if (ctx.draining()) return replyEphemeral(i, 'I am restarting — please try again in a minute.');
    const wait = ctx.cooldowns.check(i.user.id, i.guildId);
    if (wait > 0) return replyEphemeral(i, `Slow down a little 🌱 — try again in ${wait} s.`);
    const release = ctx.admission.tryEnter();
    if (!release) return replyEphemeral(i, `I'm busy with a lot of photos right now — please try again in ${ctx.admission.retryAfterS()} s.`);
    try {
      await i.deferReply();
      const r = await ctx.identify.identify(
        image ? { url: image.url, fromAttachment: true, name: image.name, declaredSize: image.size } : { url: url!, fromAttachment: false },
        { source: image ? 'slash' : 'url', sourceId: i.id, guildId: i.guildId, channelId: i.channelId, userId: i.user.id },
      ).catch((err: { userMessage?: string }) => {
        ctx.log.error({ err, interactionId: i.id }, 'identify failed');
        return { ok: false as const, payload: { content: err.userMessage ?? 'Something went wrong on my side. Please try again.', embeds: [], files: [] } };
      });
      if (r.ok) {
        await i.editReply(toMessage(r.payload));
      } else {
        // Failures are private: drop the public "thinking…" and answer ephemerally.
        await i.deleteReply().catch(() => undefined);
        await i.followUp({ ...toMessage(r.payload), flags: EPHEMERAL });
      }
    } finally {
      release();
    }
  },
};
