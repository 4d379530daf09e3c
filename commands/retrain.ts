import {
  InteractionContextType,
  PermissionFlagsBits,
  SlashCommandBuilder,
  type APIEmbed,
  type ChatInputCommandInteraction,
} from 'discord.js';
import { bar } from '../src/bot/render.ts';
import { RetrainBusyError, type RetrainOutcome, type RetrainProgress, type RetrainReport } from '../src/services/retrainService.ts';
import type { Command } from './types.ts';
import { replyEphemeral, requireAdmin } from './guards.ts';

const COLOUR = { running: 0x5865f2, succeeded: 0x57f287, rejected: 0xfee75c, failed: 0xed4245, interrupted: 0x99aab5 };
/** Limits of the options, checked in the handler too: Discord's min/max only bind its own client. */
const EPOCHS = { min: 1, max: 200 };

export function progressEmbed(p: RetrainProgress): APIEmbed {
  const lines = [`\`${bar(p.percent / 100, 20)}\` **${p.percent}%** — ${p.phase}`, p.detail];
  if (p.validAccuracy !== undefined) lines.push(`valid accuracy ${(p.validAccuracy * 100).toFixed(1)}%`);
  return {
    color: COLOUR.running,
    title: '🌱 Retraining…',
    description: lines.join('\n'),
    footer: { text: 'The bot keeps answering photos while it trains.' },
  };
}

export function outcomeEmbed(o: RetrainOutcome): APIEmbed {
  const title = {
    succeeded: '🌸 New model is live',
    rejected: '🌿 Kept the current model',
    failed: '🥀 Retrain failed',
    interrupted: '⏹️ Retraining interrupted',
  }[o.status];
  return {
    color: COLOUR[o.status],
    title,
    description: o.message,
    ...(o.report && { fields: reportFields(o.report) }),
    footer: { text: `${Math.round(o.seconds)} s${o.runId !== null ? ` · run #${o.runId}` : ''}` },
  };
}

/** At most `max` lines, then "… and N more" (an embed field holds 1,024 characters). */
function lines(xs: string[], max = 8): string {
  return (xs.length > max ? [...xs.slice(0, max), `… and ${xs.length - max} more`] : xs).join('\n');
}

/** The learning report: the same photos before and after, species added, drops, species still waiting for photos. */
export function reportFields(r: RetrainReport): NonNullable<APIEmbed['fields']> {
  const pct = (x: number) => `${(x * 100).toFixed(1)}%`;
  const fields: NonNullable<APIEmbed['fields']> = [
    {
      name: 'Accuracy on the same photos',
      value: `${pct(r.before)} → **${pct(r.after)}** on ${r.images} photos (${r.set}); learnt from ${r.learnt} approved photo${r.learnt === 1 ? '' : 's'}`,
    },
  ];
  if (r.added.length) fields.push({ name: 'On the species it already knew', value: `${pct(r.knownBefore)} → **${pct(r.knownAfter)}**` });
  if (r.added.length)
    fields.push({
      name: '🌱 Species added',
      value: lines(r.added.map((a) => `**${a.name}** — ${a.photos} approved photo${a.photos === 1 ? '' : 's'}`)),
    });
  const drops = r.changes.filter((c) => c.after < c.before);
  if (drops.length)
    fields.push({
      name: '⚠️ Species that got worse',
      value: lines(drops.map((c) => `${c.name}: ${c.before} → ${c.after} of ${c.images} right`)),
    });
  const gains = r.changes.filter((c) => c.after > c.before);
  if (gains.length)
    fields.push({
      name: 'Species that got better',
      value: lines(
        gains.map((c) => `${c.name}: ${c.before} → ${c.after} of ${c.images} right`),
        5,
      ),
    });
  if (r.waiting.length)
    fields.push({
      name: '📷 Still need photos',
      value: lines(r.waiting.map((w) => `${w.name}: ${w.photos} of ${w.needed} approved photos`)),
    });
  return fields;
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
    chain = chain.then(() =>
      i.editReply({ embeds: [e] }).then(
        () => undefined,
        () => undefined,
      ),
    );
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
    .setDescription('Teach the flower model the approved photos from members, and new species that have enough (admins)')
    .setDefaultMemberPermissions(PermissionFlagsBits.Administrator)
    .setContexts(InteractionContextType.Guild)
    .addIntegerOption((o) =>
      o.setName('epochs').setDescription('Training epochs (default: as configured)').setMinValue(EPOCHS.min).setMaxValue(EPOCHS.max),
    )
    .addBooleanOption((o) => o.setName('force').setDescription('Bot owners only: retrain even during the cooldown'))
    .addBooleanOption((o) =>
      o.setName('full').setDescription('Retrain the whole head on the data set folders (slow without a feature cache; no contributions)'),
    ),

  async execute(i, ctx) {
    if (!(await requireAdmin(i, ctx, 'retrain the model'))) return;
    if (ctx.draining()) return replyEphemeral(i, 'I am restarting — please try again in a minute.');
    if (ctx.retrain.running) return replyEphemeral(i, new RetrainBusyError().message);
    // Every option is checked here: a forged interaction can carry any value (or type).
    const rawEpochs = i.options.get('epochs')?.value;
    if (
      rawEpochs !== undefined &&
      !(typeof rawEpochs === 'number' && Number.isInteger(rawEpochs) && rawEpochs >= EPOCHS.min && rawEpochs <= EPOCHS.max)
    ) {
      return replyEphemeral(
        i,
        `epochs must be a whole number from ${EPOCHS.min} to ${EPOCHS.max} (got ${JSON.stringify(rawEpochs)}). Nothing was started.`,
      );
    }
    const rawForce = i.options.get('force')?.value;
    if (rawForce !== undefined && typeof rawForce !== 'boolean')
      return replyEphemeral(i, 'force must be true or false. Nothing was started.');
    const rawFull = i.options.get('full')?.value;
    if (rawFull !== undefined && typeof rawFull !== 'boolean') return replyEphemeral(i, 'full must be true or false. Nothing was started.');
    const isOwner = ctx.config.ownerIds.includes(i.user.id);
    if (rawForce === true && !isOwner)
      return replyEphemeral(i, 'Only the bot owners (BLOOM_OWNER_IDS) can force a retrain during the cooldown. Nothing was started.');
    // Every server shares the model: one retrain per cooldown for the whole bot.
    const waitMs = ctx.retrain.cooldownRemainingMs(ctx.config.retrainCooldownMin * 60_000);
    if (waitMs > 0 && rawForce !== true) {
      const minutes = Math.ceil(waitMs / 60_000);
      return replyEphemeral(
        i,
        `The model was retrained recently and every server uses it, so the next /retrain is possible in ${minutes} min${isOwner ? ' (as an owner you can use force:true)' : ''}.`,
      );
    }
    const epochs = rawEpochs;
    const editor = throttledEditor(i, ctx.retrainEditMs);
    // A RetrainBusyError (a run started in between) is user-facing: the dispatcher shows it ephemerally.
    const started = ctx.retrain.start(
      { userId: i.user.id, guildId: i.guildId },
      (p) => editor.push(progressEmbed(p)),
      epochs ? { epochs } : {},
      { full: rawFull === true },
    );
    await i.deferReply();
    const outcome = await ctx.track(started);
    await editor.final(outcomeEmbed(outcome));
  },
};
