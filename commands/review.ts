import { InteractionContextType, PermissionFlagsBits, SlashCommandBuilder } from 'discord.js';
import { reviewPage } from '../src/bot/review.ts';
import { EPHEMERAL } from '../src/bot/replies.ts';
import type { Command } from './types.ts';
import { replyEphemeral, requireAdmin } from './guards.ts';

export const review: Command = {
  data: new SlashCommandBuilder()
    .setName('review')
    .setDescription('Approve or reject the photos members kept through feedback (admins)')
    .setDefaultMemberPermissions(PermissionFlagsBits.ManageGuild)
    .setContexts(InteractionContextType.Guild),

  async execute(i, ctx) {
    if (!(await requireAdmin(i, ctx, 'review photos'))) return;
    if (!i.inGuild()) return replyEphemeral(i, 'Run /review in a server.');
    // Private to the admin; deferred first, as the photo is read from disk.
    await i.deferReply({ flags: EPHEMERAL });
    await i.editReply(await reviewPage(ctx, i.guildId, 0));
  },
};
