import { InteractionContextType, PermissionFlagsBits, SlashCommandBuilder } from 'discord.js';
import { EPHEMERAL } from '../src/bot/replies.ts';
import type { Command } from './types.ts';
import { requireAdmin } from './guards.ts';

export const stats: Command = {
  data: new SlashCommandBuilder()
    .setName('stats')
    .setDescription('Prediction and training statistics for this server (admins)')
    .setDefaultMemberPermissions(PermissionFlagsBits.ManageGuild)
    .setContexts(InteractionContextType.Guild)
    .addIntegerOption((o) => o.setName('days').setDescription('Look back this many days (default 7)').setMinValue(1).setMaxValue(365)),

  async execute(i, ctx) {
    if (!(await requireAdmin(i, ctx, 'see statistics'))) return;
    const days = i.options.getInteger('days') ?? 7;
    const since = { guildId: i.guildId!, sinceIso: new Date(Date.now() - days * 86_400_000).toISOString() };
    const s = ctx.store.predictionStats(since);
    const fb = ctx.store.feedback.feedbackCounts(since);
    const runs = ctx.store.latestRuns(3);
    const species =
      s.topSpecies
        .slice(0, 5)
        .map((x) => `${x.name ?? x.label} ×${x.count}`)
        .join(', ') || '—';
    await i.reply({
      flags: EPHEMERAL,
      embeds: [
        {
          title: `📊 Last ${days} days`,
          fields: [
            { name: 'Photos', value: `${s.total} (${s.errors} errors) from ${s.uniqueUsers} people`, inline: true },
            {
              name: 'Latency',
              value:
                s.latencyMs.mean === null ? '—' : `mean ${Math.round(s.latencyMs.mean)} ms, p95 ${Math.round(s.latencyMs.p95 ?? 0)} ms`,
              inline: true,
            },
            { name: 'Top species', value: species },
            {
              name: 'Feedback',
              value: `${fb.votes} votes · ${fb.contributions} contributions (${fb.pending} pending review, ${fb.photos} photos kept)`,
            },
            { name: 'Model', value: `${ctx.models.version ?? 'none'} on ${ctx.backend}` },
            {
              name: 'Recent retrains',
              value:
                runs
                  .map(
                    (r) =>
                      `#${r.id} ${r.status}${r.validAccuracy !== null ? ` ${(r.validAccuracy * 100).toFixed(1)}%` : ''} (${r.startedAt.slice(0, 16)})`,
                  )
                  .join('\n') || '—',
            },
          ],
        },
      ],
    });
  },
};
