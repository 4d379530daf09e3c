// Checks shared by the commands, answered ephemerally so channels stay clean.
import type { ChatInputCommandInteraction } from 'discord.js';
import type { BotContext } from '../src/bot/context.ts';
import { isBotAdmin } from '../src/bot/permissions.ts';
import { EPHEMERAL } from '../src/bot/replies.ts';

export async function replyEphemeral(i: ChatInputCommandInteraction, content: string): Promise<void> {
  if (i.deferred || i.replied) await i.followUp({ content, flags: EPHEMERAL });
  else await i.reply({ content, flags: EPHEMERAL });
}

/** Refuses non-admins even when the command is invoked directly, bypassing the client's hiding. */
export async function requireAdmin(i: ChatInputCommandInteraction, ctx: BotContext, what: string): Promise<boolean> {
  if (i.inGuild() && isBotAdmin(i.user.id, i.memberPermissions, ctx.config.ownerIds)) return true;
  if (!i.inGuild() && ctx.config.ownerIds.includes(i.user.id)) return true;
  ctx.log.warn({ userId: i.user.id, guildId: i.guildId, command: i.commandName }, 'admin command refused');
  await replyEphemeral(i, `Only server admins can ${what}.`);
  return false;
}
