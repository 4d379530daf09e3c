import { InteractionContextType, SlashCommandBuilder } from 'discord.js';
import { handlePhotos } from '../src/bot/photoPipeline.ts';
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
    if (image && !isPhotoAttachment(image))
      return replyEphemeral(i, `\`${image.name}\` isn't a photo. Please attach a JPEG, PNG, WebP, GIF, TIFF or AVIF image.`);
    await handlePhotos(
      ctx,
      {
        entry: 'slash',
        photos: [
          image
            ? { url: image.url, fromAttachment: true, name: image.name, declaredSize: image.size }
            : { url: url!, fromAttachment: false },
        ],
        who: { source: image ? 'slash' : 'url', sourceId: i.id, guildId: i.guildId, channelId: i.channelId, userId: i.user.id },
        logFields: { interactionId: i.id },
      },
      {
        refuse: async (text) => {
          // Refused after the deferral (busy once the bytes were in): drop the public "thinking…".
          if (i.deferred) await i.deleteReply().catch(() => undefined);
          await replyEphemeral(i, text);
        },
        // Deferred before the download: Discord's 3 s would run out on a slow link.
        started: async () => void (i.deferred || (await i.deferReply())),
        accepted: async () => void (i.deferred || (await i.deferReply())),
        answer: async ({ outcome, payload }) => {
          if (outcome.kind === 'identified') return void (await i.editReply(toMessage(payload)));
          // Failures are private: drop the public "thinking…" and answer ephemerally.
          await i.deleteReply().catch(() => undefined);
          await i.followUp({ ...toMessage(payload), flags: EPHEMERAL });
        },
      },
    );
  },
};
