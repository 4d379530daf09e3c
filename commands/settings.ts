import { ChannelType, InteractionContextType, PermissionFlagsBits, SlashCommandBuilder } from 'discord.js';
import { AUTO_APPROVE_MAX } from '../src/services/reviewService.ts';
import type { BotContext } from '../src/bot/context.ts';
import type { Command } from './types.ts';
import { replyEphemeral, requireAdmin } from './guards.ts';

export const settings: Command = {
  data: new SlashCommandBuilder()
    .setName('settings')
    .setDescription('Bot settings for this server (admins)')
    .setDefaultMemberPermissions(PermissionFlagsBits.ManageGuild)
    .setContexts(InteractionContextType.Guild)
    .addSubcommandGroup((g) =>
      g
        .setName('channel')
        .setDescription('Channels where I identify every posted photo')
        .addSubcommand((s) =>
          s
            .setName('add')
            .setDescription('Watch a channel')
            .addChannelOption((o) =>
              o.setName('channel').setDescription('Channel').addChannelTypes(ChannelType.GuildText).setRequired(true),
            ),
        )
        .addSubcommand((s) =>
          s
            .setName('remove')
            .setDescription('Stop watching a channel')
            .addChannelOption((o) => o.setName('channel').setDescription('Channel').setRequired(true)),
        )
        .addSubcommand((s) => s.setName('list').setDescription('List watched channels')),
    )
    .addSubcommandGroup((g) =>
      g
        .setName('learning')
        .setDescription('How photos kept through feedback are approved for training')
        .addSubcommand((s) =>
          s
            .setName('auto-approve')
            .setDescription('Approve a photo without review once this many members agree and nobody disagrees')
            .addIntegerOption((o) =>
              o
                .setName('members')
                .setDescription(`Members who must agree (0 = off: every photo waits for /review)`)
                .setMinValue(0)
                .setMaxValue(AUTO_APPROVE_MAX)
                .setRequired(true),
            ),
        )
        .addSubcommand((s) => s.setName('show').setDescription('Show the learning settings and the review queue')),
    ),

  async execute(i, ctx) {
    if (!(await requireAdmin(i, ctx, 'change my settings'))) return;
    const guildId = i.guildId!;
    const sub = i.options.getSubcommand();
    if (i.options.getSubcommandGroup() === 'learning') return replyEphemeral(i, learning(i, ctx, guildId, sub));
    if (sub === 'list') {
      const ids = [...new Set([...ctx.store.listWatchedChannels(guildId), ...ctx.config.watchChannels])];
      return replyEphemeral(
        i,
        ids.length
          ? `I watch: ${ids.map((c) => `<#${c}>`).join(', ')}`
          : 'I am not watching any channel here yet. Use `/settings channel add`.',
      );
    }
    const channel = i.options.getChannel('channel', true);
    if (sub === 'add') {
      ctx.store.addWatchedChannel(guildId, channel.id);
      return replyEphemeral(i, `I'll identify photos posted in <#${channel.id}>. Make sure I can read and send messages there.`);
    }
    const removed = ctx.store.removeWatchedChannel(guildId, channel.id);
    return replyEphemeral(i, removed ? `I stopped watching <#${channel.id}>.` : `I wasn't watching <#${channel.id}>.`);
  },
};

function autoApproveLine(n: number): string {
  return n
    ? `Auto-approve: a kept photo is approved without review once **${n}** member${n === 1 ? '' : 's'} gave the same answer and nobody another.`
    : 'Auto-approve: **off**, every kept photo waits for /review.';
}

/** /settings learning auto-approve | show: the answer to send. */
function learning(i: Parameters<Command['execute']>[0], ctx: BotContext, guildId: string, sub: string): string {
  if (sub === 'auto-approve') {
    // Checked here too: a forged interaction can carry any value.
    const n = i.options.get('members')?.value;
    if (typeof n !== 'number' || !Number.isInteger(n) || n < 0 || n > AUTO_APPROVE_MAX)
      return `members must be a whole number from 0 to ${AUTO_APPROVE_MAX} (got ${JSON.stringify(n ?? null)}). Nothing was changed.`;
    ctx.review.setAutoApproveMembers(guildId, n);
    return `${autoApproveLine(n)}\nIt applies from the next vote on.`;
  }
  const pending = ctx.review.pendingCount(guildId);
  return `${autoApproveLine(ctx.review.autoApproveMembers(guildId))}\nWaiting for /review: ${pending} photo${pending === 1 ? '' : 's'}.`;
}
