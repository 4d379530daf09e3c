// Autocomplete in the emulator: a member types into an option marked `autocomplete`,
// the real discord.js client gets an AutocompleteInteraction and answers with choices
// (callback 8), and the test reads them; what Discord would refuse is refused.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { Client, Events, GatewayIntentBits, type Interaction, SlashCommandBuilder } from 'discord.js';
import { type Emulator, startEmulator } from '../src/dev/emulator/index.ts';

const FLOWERS = ['Lenten Rose', 'Red Disc', 'Rose Campion', 'Sunflower'];

describe('emulator: autocomplete', () => {
  let emu: Emulator;
  let client: Client;
  /** What the client does with an autocomplete; swapped by tests that misbehave on purpose. */
  let onAutocomplete: (i: Interaction) => Promise<void>;
  const seen: { command: string; focused: { name: string; value: string }; others: readonly unknown[] }[] = [];

  const suggest = async (i: Interaction) => {
    if (!i.isAutocomplete()) return;
    const focused = i.options.getFocused(true);
    seen.push({ command: i.commandName, focused: { name: focused.name, value: String(focused.value) }, others: i.options.data });
    const typed = String(focused.value).toLowerCase();
    await i.respond(FLOWERS.filter((f) => f.toLowerCase().includes(typed)).map((f) => ({ name: f, value: f })));
  };

  before(async () => {
    emu = await startEmulator();
    client = new Client({ intents: [GatewayIntentBits.Guilds], rest: { api: emu.apiBase, offset: 0 } });
    onAutocomplete = suggest;
    client.on(Events.InteractionCreate, (i) => void onAutocomplete(i).catch(() => undefined));
    const ready = new Promise((r) => client.once(Events.ClientReady, r));
    await client.login(emu.token);
    await ready;
    await client.application!.commands.set(
      [
        new SlashCommandBuilder()
          .setName('species')
          .setDescription('Species')
          .addSubcommand((s) =>
            s
              .setName('show')
              .setDescription('One species')
              .addStringOption((o) => o.setName('name').setDescription('Name').setRequired(true).setAutocomplete(true))
              .addIntegerOption((o) => o.setName('page').setDescription('Page')),
          ),
        new SlashCommandBuilder()
          .setName('pick')
          .setDescription('Pick')
          .addStringOption((o) => o.setName('colour').setDescription('Colour').addChoices({ name: 'Red', value: 'red' })),
      ].map((c) => c.toJSON()),
      emu.guild.id,
    );
  });

  after(async () => {
    await client.destroy();
    await emu.close();
  });

  test('typing into an option: the bot gets the focused option and what is filled in, and the test reads its choices', async () => {
    const { id, choices } = await emu.autocomplete({
      name: 'species',
      subcommand: 'show',
      focused: 'name',
      typed: 'ros',
      options: { page: 2 },
    });
    assert.deepEqual(choices, [
      { name: 'Lenten Rose', value: 'Lenten Rose' },
      { name: 'Rose Campion', value: 'Rose Campion' },
    ]);
    assert.equal(emu.interactionStatus(id), 'answered');
    const [r] = emu.interactionResponses(id);
    assert.equal(r!.kind, 'callback');
    assert.equal(r!.callbackType, 8);
    const got = seen.at(-1)!;
    assert.equal(got.command, 'species');
    assert.deepEqual(got.focused, { name: 'name', value: 'ros' });
    // Discord sends the subcommand with the options typed so far, the focused one marked.
    const sub = got.others[0] as { name: string; options: { name: string; value: unknown; focused?: boolean }[] };
    assert.equal(sub.name, 'show');
    assert.deepEqual(
      sub.options.map((o) => [o.name, o.value, o.focused ?? false]).sort((a, b) => String(a[0]).localeCompare(String(b[0]))),
      [
        ['name', 'ros', true],
        ['page', 2, false],
      ],
    );
    // An empty field is typed into too (the list a member sees on opening it); a required option may still be missing.
    assert.equal((await emu.autocomplete({ name: 'species', subcommand: 'show', focused: 'name', typed: '' })).choices.length, 4);
  });

  test('Discord sends nothing for an option without autocomplete, or an unknown one', async () => {
    await assert.rejects(emu.autocomplete({ name: 'species', subcommand: 'show', focused: 'page', typed: '1' }), /does not autocomplete/);
    await assert.rejects(emu.autocomplete({ name: 'pick', focused: 'colour', typed: 'r' }), /does not autocomplete/);
    await assert.rejects(emu.autocomplete({ name: 'species', subcommand: 'show', focused: 'nope', typed: 'r' }), /has no option "nope"/);
  });

  test('an autocomplete takes only choices: a message answer, too many choices or an overlong name are refused', async () => {
    const failures: string[] = [];
    const attempts: ((i: Interaction) => Promise<unknown>)[] = [
      (i) =>
        i.isAutocomplete() ? i.respond(Array.from({ length: 26 }, (_, n) => ({ name: `f${n}`, value: `f${n}` }))) : Promise.resolve(),
      (i) => (i.isAutocomplete() ? i.respond([{ name: 'x'.repeat(101), value: 'x' }]) : Promise.resolve()),
      // A message (callback 4) is not an answer to an autocomplete.
      (i) =>
        i.isAutocomplete()
          ? client.rest.post(`/interactions/${i.id}/${i.token}/callback`, { body: { type: 4, data: { content: 'hi' } }, auth: false })
          : Promise.resolve(),
    ];
    try {
      for (const attempt of attempts) {
        let done!: () => void;
        const settled = new Promise<void>((r) => (done = r));
        onAutocomplete = (i) =>
          attempt(i).then(
            () => done(),
            (err: Error) => (failures.push(err.message), done()),
          );
        await assert.rejects(
          emu.autocomplete({ name: 'species', subcommand: 'show', focused: 'name', typed: 'r' }, 1500),
          /no callback response/,
        );
        await settled;
      }
    } finally {
      onAutocomplete = suggest;
    }
    assert.equal(failures.length, 3, failures.join('; '));
    assert.match(failures[0]!, /25 or fewer/);
    assert.match(failures[1]!, /between 1 and 100/);
    assert.match(failures[2]!, /callback type is not valid/i);
  });

  test('choices (8) are refused as the answer to a slash command', async () => {
    let error: string | undefined;
    const handled = new Promise<void>((resolve) => {
      onAutocomplete = async (i) => {
        if (!i.isChatInputCommand()) return;
        await client.rest
          .post(`/interactions/${i.id}/${i.token}/callback`, { body: { type: 8, data: { choices: [] } }, auth: false })
          .catch((err: Error) => (error = err.message));
        await i.reply('ok');
        resolve();
      };
    });
    try {
      const { id } = await emu.invokeCommand({ name: 'species', subcommand: 'show', options: { name: 'Sunflower' } });
      await handled;
      assert.match(error ?? '', /callback type is not valid/i);
      assert.equal((await emu.waitForInteractionResponse(id, 'callback')).callbackType, 4);
    } finally {
      onAutocomplete = suggest;
    }
  });

  test('registration refuses autocomplete together with fixed choices', async () => {
    const bad = {
      name: 'bad',
      description: 'Bad',
      options: [{ type: 3, name: 'x', description: 'X', autocomplete: true, choices: [{ name: 'a', value: 'a' }] }],
    };
    await assert.rejects(client.application!.commands.create(bad, emu.guild.id), /Autocomplete cannot be set if choices are present/);
  });
});
