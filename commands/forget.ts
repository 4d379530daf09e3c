import { InteractionContextType, SlashCommandBuilder } from 'discord.js';
import { forgetQuestion, NOTHING_TO_FORGET } from '../src/bot/forget.ts';
import { EPHEMERAL } from '../src/bot/replies.ts';
import type { Command } from './types.ts';
import { replyEphemeral } from './guards.ts';

export const forget: Command = {
  data: new SlashCommandBuilder()
    .setName('forget')
    .setDescription('Remove your votes and the photos I kept because of your feedback')
    .setContexts(InteractionContextType.Guild, InteractionContextType.BotDM),

  async execute(i, ctx) {
    const question = forgetQuestion(i.user.id, ctx.forget.preview(i.user.id));
    if (!question) return replyEphemeral(i, NOTHING_TO_FORGET);
    await i.reply({ ...question, flags: EPHEMERAL, allowedMentions: { parse: [] } });
  },
};
