import { SlashCommandBuilder } from 'discord.js';
import { parsePageId, speciesCard, speciesChoice, speciesPage, title } from '../src/bot/catalogueRender.ts';
import { EPHEMERAL, toMessage } from '../src/bot/replies.ts';
import type { Command } from './types.ts';
import { replyEphemeral, requireAdmin } from './guards.ts';

export const species: Command = {
  data: new SlashCommandBuilder()
    .setName('species')
    .setDescription('The flower species I know, and the ones members are teaching me')
    .addSubcommand((s) =>
      s
        .setName('show')
        .setDescription('What I know about one species (without a name: the whole list)')
        .addStringOption((o) => o.setName('name').setDescription('Species name').setAutocomplete(true).setMaxLength(80)),
    )
    .addSubcommand((s) => s.setName('list').setDescription('Every species I know, 25 per page'))
    .addSubcommand((s) =>
      s
        .setName('add')
        .setDescription('Admins: start teaching me a new species (members can then name photos of it)')
        .addStringOption((o) => o.setName('name').setDescription('Its name').setRequired(true).setMinLength(2).setMaxLength(80)),
    ),

  async execute(i, ctx) {
    const sub = i.options.getSubcommand();
    if (sub === 'add') {
      if (!(await requireAdmin(i, ctx, 'add a species'))) return;
      const r = ctx.catalogue.add(i.options.getString('name', true), i.user.id);
      ctx.log.info({ userId: i.user.id, result: r.kind, ...(r.kind !== 'invalid' && { label: r.entry.label }) }, 'species add');
      if (r.kind === 'invalid') return replyEphemeral(i, 'Please give the name of a species (letters, not just symbols).');
      if (r.kind === 'known')
        return replyEphemeral(
          i,
          `I already know **${title(r.entry.name)}**${r.entry.collecting ? ' (members are collecting photos of it)' : ''}, so there is nothing to add.`,
        );
      return replyEphemeral(
        i,
        `Added **${title(r.entry.name)}**. Members can now name photos of it (❌ Wrong → "Another species…"); ` +
          `once ${ctx.config.newSpeciesMinPhotos} of them are approved, the next /retrain teaches it to me.`,
      );
    }
    const name = sub === 'show' ? i.options.getString('name')?.trim() : undefined;
    if (!name) return void (await i.reply({ ...toMessage(speciesPage(ctx.catalogue.all(), 0)), flags: EPHEMERAL }));
    const entry = ctx.catalogue.find(name);
    if (!entry)
      return replyEphemeral(
        i,
        `I don't know a species called "${name.replace(/[`*_~|<>@]/g, '')}". Pick one from the suggestions while you type, or see \`/species list\`.`,
      );
    const typical = entry.inModel ? await ctx.identify.typicalPhoto(entry.label) : undefined;
    const card = speciesCard(ctx.catalogue.detail(entry), typical);
    await i.reply({ ...toMessage(card), flags: EPHEMERAL });
  },

  async autocomplete(i, ctx) {
    await i.respond(ctx.catalogue.suggest(String(i.options.getFocused())).map(speciesChoice));
  },

  async component(i, ctx) {
    const page = parsePageId(i.customId);
    if (page === undefined || !i.isButton())
      return void (await i.reply({ content: "That button doesn't do anything any more.", flags: EPHEMERAL }));
    // The list is read again: species added since the first page show up.
    await i.update(toMessage(speciesPage(ctx.catalogue.all(), page)));
  },
};
