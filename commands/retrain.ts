import { InteractionContextType, PermissionFlagsBits, SlashCommandBuilder, type APIEmbed, type ChatInputCommandInteraction } from 'discord.js';
import { bar } from '../src/bot/render.ts';
import { RetrainBusyError, type RetrainOutcome, type RetrainProgress } from '../src/services/retrainService.ts';
import type { Command } from './types.ts';
import { replyEphemeral, requireAdmin } from './guards.ts';

const COLOUR = { running: 0x5865f2, succeeded: 0x57f287, rejected: 0xfee75c, failed: 0xed4245 };

export function progressEmbed(p: RetrainProgress): APIEmbed {
  const lines = [`\`${bar(p.percent / 100, 20)}\` **${p.percent}%** — ${p.phase}`, p.detail];
  if (p.validAccuracy !== undefined) lines.push(`valid accuracy ${(p.validAccuracy * 100).toFixed(1)}%`);
  return { color: COLOUR.running, title: '🌱 Retraining…', description: lines.join('\n'), footer: { text: 'The bot keeps answering photos while it trains.' } };
}

export function outcomeEmbed(o: RetrainOutcome): APIEmbed {
  const title = { succeeded: '🌸 New model is live', rejected: '🌿 Kept the current model', failed: '🥀 Retrain failed' }[o.status];
  return { color: COLOUR[o.status], title, description: o.message, footer: { text: `${Math.round(o.seconds)} s${o.runId !== null ? ` · run #${o.runId}` : ''}` } };
}

/** Edits the reply at most every interval; edits are chained so they never race. */
function throttledEditor(i: ChatInputCommandInteraction, intervalMs: number) {
  let last = 0;
  let chain = Promise.resolve();
  let pending: APIEmbed | undefined;
  let timer: NodeJS.Timeout | undefined;
  const send = () => {
    timer = undefined;
    const e = pending;
    pending = undefined;
    if (!e) return;
    last = Date.now();
    chain = chain.then(() => i.editReply({ embeds: [e] }).then(() => undefined, () => undefined));
  };
  return {
    push(e: APIEmbed) {
      pending = e;
      const due = last + intervalMs - Date.now();
      if (due <= 0) send();
      else timer ??= setTimeout(send, due);
    },
    async final(e: APIEmbed) {
      clearTimeout(timer);
      pending = undefined;
      await chain;
      try {
        await i.editReply({ embeds: [e] });
      } catch {
        // The interaction token lasts 15 minutes; a long run reports in the channel instead.
        if (i.channel && 'send' in i.channel) await i.channel.send({ content: `<@${i.user.id}>`, embeds: [e] });
      }
    },
  };
}

export const retrain: Command = {
  data: new SlashCommandBuilder()
    .setName('retrain')
    .setDescription('Retrain the flower model on the labelled photo folders (admins)')
    .setDefaultMemberPermissions(PermissionFlagsBits.Administrator)
    .setContexts(InteractionContextType.Guild)
    .addIntegerOption((o) => o.setName('epochs').setDescription('Training epochs (default: as configured)').setMinValue(1).setMaxValue(200)),

  async execute(i, ctx) {
    if (!(await requireAdmin(i, ctx, 'retrain the model'))) return;
    if (ctx.draining()) return replyEphemeral(i, 'I am restarting — please try again in a minute.');
    if (ctx.retrain.running) return replyEphemeral(i, new RetrainBusyError().message);
    const epochs = i.options.getInteger('epochs') ?? undefined;
    const editor = throttledEditor(i, ctx.retrainEditMs);
    // A RetrainBusyError (a run started in between) is user-facing: the dispatcher shows it ephemerally.
    const started = ctx.retrain.start({ userId: i.user.id, guildId: i.guildId }, (p) => editor.push(progressEmbed(p)), epochs ? { epochs } : {});
    await i.deferReply();
    const outcome = await ctx.track(started);
    await editor.final(outcomeEmbed(outcome));
  },
};
