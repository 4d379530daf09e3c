// npm start: the bot against real Discord.
import { ConfigError, loadConfig } from './config.ts';
import { createApp } from './app.ts';
import { modelDir } from './modelDir.ts';
import { createLogger, redactSecrets } from './log.ts';
import { fetchWithProgress } from './cli/common.ts';

async function main(): Promise<void> {
  let config;
  try {
    config = loadConfig(process.env, { requireToken: true });
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    process.stderr.write(`${err.message}\n\nSet these in the environment (or a .env file loaded by your process manager).\n` +
      'Create a bot at https://discord.com/developers/applications, copy its token into DISCORD_TOKEN,\n' +
      'enable the Message Content intent (Bot → Privileged Gateway Intents), then register the slash commands once:\n' +
      '  npm run register-commands\nTo try Bloom without a token: npm run demo\n');
    process.exit(1);
  }
  const log = createLogger({ level: config.logLevel, secrets: [config.discordToken!] });
  const app = await createApp({ config, log, modelDir: modelDir(config).dir, fetchFile: fetchWithProgress }).catch((err: Error) => {
    log.fatal({ err }, 'start-up failed');
    process.stderr.write(`\n${redactSecrets(err.message, [config.discordToken!])}\n`);
    process.exit(1);
  });
  const shutdown = (signal: string) => {
    log.info({ signal }, 'shutting down: finishing in-flight replies');
    void app.stop().then(() => process.exit(0));
  };
  process.once('SIGINT', () => shutdown('SIGINT'));
  process.once('SIGTERM', () => shutdown('SIGTERM'));
  await app.bot.start(config.discordToken!);
}

void main();
