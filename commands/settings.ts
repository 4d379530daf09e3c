import { ChannelType, InteractionContextType, PermissionFlagsBits, SlashCommandBuilder } from 'discord.js';
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
    ),

  async execute(i, ctx) {
    if (!(await requireAdmin(i, ctx, 'change my settings'))) return;
    const guildId = i.guildId!;
    const sub = i.options.getSubcommand();
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
