// npm run register-commands -- [--guild ID | --global] [--dry-run]
// Registers the slash commands once (not at every start): guild commands appear
// at once, global ones can take up to an hour to reach every client.
import { Command } from 'commander';
import { COMMANDS } from '../commands/index.ts';
import { registerCommands } from '../src/bot/registerCommands.ts';
import { fail } from '../src/cli/exit.ts';
import { loadConfig } from '../src/config.ts';

async function main() {
  const program = new Command('register-commands')
    .description("Register Bloom's slash commands with Discord")
    .option('--guild <id>', 'register in one server (instant); default DISCORD_GUILD_ID')
    .option('--global', 'register globally (all servers; may take up to an hour to appear)')
    .option('--dry-run', 'print the command definitions as JSON and exit');
  program.parse();
  const o = program.opts<{ guild?: string; global?: boolean; dryRun?: boolean }>();
  if (o.dryRun) {
    process.stdout.write(
      JSON.stringify(
        COMMANDS.map((c) => c.data.toJSON()),
        null,
        2,
      ) + '\n',
    );
    return;
  }
  const config = loadConfig(process.env, { requireToken: true });
  const guildId = o.global ? undefined : (o.guild ?? config.discordGuildId);
  if (!o.global && !guildId) throw new Error('Say where: --guild ID (or DISCORD_GUILD_ID) for one server, or --global');
  const r = await registerCommands({
    token: config.discordToken,
    apiUrl: config.discordApiUrl,
    applicationId: config.discordApplicationId,
    guildId,
  });
  console.log(`Registered ${r.count} commands (${r.scope}): ${COMMANDS.map((c) => '/' + c.data.name).join(', ')}`);
}

main().catch(fail);
