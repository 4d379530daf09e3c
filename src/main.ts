// npm start: the bot against real Discord.
import { ConfigError, loadConfig } from './config.ts';
import { createApp } from './app.ts';
import { loginFailureMessage } from './bot/loginFailure.ts';
import { modelDir } from './modelDir.ts';
import { createLogger, redactSecrets } from './log.ts';
import { fetchWithProgress } from './cli/progress.ts';
import { stopAndExit } from './shutdown.ts';

async function main(): Promise<void> {
  let config;
  try {
    config = loadConfig(process.env, { requireToken: true });
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    process.stderr.write(
      `${err.message}\n\nSet these in the environment (or a .env file loaded by your process manager).\n` +
        'Create a bot at https://discord.com/developers/applications, copy its token into DISCORD_TOKEN,\n' +
        'enable the Message Content intent (Bot → Privileged Gateway Intents), then register the slash commands once:\n' +
        '  npm run register-commands\nTo try Bloom without a token: npm run demo\n',
    );
    process.exit(1);
  }
  const token = config.discordToken;
  const log = createLogger({ level: config.logLevel, secrets: [token] });
  const app = await createApp({ config, log, modelDir: modelDir(config).dir, fetchFile: fetchWithProgress }).catch((err: Error) => {
    log.fatal({ err }, 'start-up failed');
    process.stderr.write(`\n${redactSecrets(err.message, [token])}\n`);
    process.exit(1);
  });
  let stopping = false;
  const shutdown = (signal: string) => {
    stopping = true;
    log.info({ signal }, 'shutting down: finishing in-flight replies');
    void stopAndExit(() => app.stop(), 0, { onError: (err) => log.error({ err }, 'shutdown failed') });
  };
  process.once('SIGINT', () => shutdown('SIGINT'));
  process.once('SIGTERM', () => shutdown('SIGTERM'));
  try {
    await app.bot.start(token);
  } catch (err) {
    if (stopping) return; // a signal during login: the shutdown exits
    // A refused token or an unreachable Discord: one clear line, not a stack (and never the token).
    process.stderr.write(`${redactSecrets(loginFailureMessage(err, { apiUrl: config.discordApiUrl }), [token])}\n`);
    await stopAndExit(() => app.stop(), 1);
  }
}

// Nothing may reject unhandled: the wasm backend turns that into a crash dump and exit 7.
main().catch((err: unknown) => {
  const message = (err as Error)?.stack ?? String(err);
  process.stderr.write(`Bloom stopped: ${redactSecrets(message, process.env.DISCORD_TOKEN ? [process.env.DISCORD_TOKEN] : [])}\n`);
  process.exit(1);
});
