import { SlashCommandBuilder } from 'discord.js';
import { modelList, rollbackMessage, versionLine } from '../src/bot/catalogueRender.ts';
import { EPHEMERAL, toMessage } from '../src/bot/replies.ts';
import type { Command } from './types.ts';
import { replyEphemeral, requireAdmin } from './guards.ts';

export const model: Command = {
  data: new SlashCommandBuilder()
    .setName('model')
    .setDescription('The model versions I can answer with')
    .addSubcommand((s) => s.setName('list').setDescription('Model versions: date, accuracy, species, which one is live'))
    .addSubcommand((s) =>
      s
        .setName('rollback')
        .setDescription('Admins: make an earlier model version live again')
        .addStringOption((o) =>
          o.setName('version').setDescription('The version (see /model list)').setRequired(true).setAutocomplete(true),
        ),
    ),

  async execute(i, ctx) {
    if (i.options.getSubcommand() === 'list')
      return void (await i.reply({ ...toMessage(modelList(ctx.versions.list())), flags: EPHEMERAL }));
    if (!(await requireAdmin(i, ctx, 'change the model'))) return;
    if (ctx.draining()) return replyEphemeral(i, 'I am restarting — please try again in a minute.');
    const id = i.options.getString('version', true);
    // Loading a model can take longer than Discord's 3 s.
    await i.deferReply({ flags: EPHEMERAL });
    const r = await ctx.versions.rollback(id);
    ctx.log.info({ userId: i.user.id, version: id, result: r.kind }, 'model rollback');
    await i.editReply({ content: rollbackMessage(r, id) });
  },

  async autocomplete(i, ctx) {
    const typed = String(i.options.getFocused()).trim().toLowerCase();
    const choices = ctx.versions
      .list()
      .filter((v) => !typed || v.id.toLowerCase().includes(typed))
      .slice(0, 25)
      .map((v) => ({ name: `${versionLine(v)}${v.live ? ' (live)' : ''}`.slice(0, 100), value: v.id }));
    await i.respond(choices);
  },
};
