// npm start: the bot against real Discord.
import { ConfigError, loadConfig } from './config.ts';
import { createApp, type App } from './app.ts';
import { loginFailureMessage } from './bot/loginFailure.ts';
import { createLogger, redactSecrets } from './log.ts';
import { fetchWithProgress } from './cli/common.ts';

/** How long a shutdown may take before the process exits anyway (in-flight replies get 30 s). */
const STOP_GRACE_MS = 45_000;

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
  const token = config.discordToken!;
  const log = createLogger({ level: config.logLevel, secrets: [token] });
  const app = await createApp({ config, log, fetchFile: fetchWithProgress }).catch((err: Error) => {
    log.fatal({ err }, 'start-up failed');
    process.stderr.write(`\n${redactSecrets(err.message, [token])}\n`);
    process.exit(1);
  });
  const shutdown = (signal: string) => {
    log.info({ signal }, 'shutting down: finishing in-flight replies');
    void stopAndExit(app, 0, (err) => log.error({ err }, 'shutdown failed'));
  };
  process.once('SIGINT', () => shutdown('SIGINT'));
  process.once('SIGTERM', () => shutdown('SIGTERM'));
  try {
    await app.bot.start(token);
  } catch (err) {
    // A refused token or an unreachable Discord: one clear line, not a stack (and never the token).
    process.stderr.write(`${redactSecrets(loginFailureMessage(err, { apiUrl: config.discordApiUrl }), [token])}\n`);
    await stopAndExit(app, 1, () => undefined);
  }
}

/** Stops the app and exits with `code`; a stop that fails exits 1, one that hangs is cut short. */
async function stopAndExit(app: App, code: number, onError: (err: unknown) => void): Promise<never> {
  setTimeout(() => process.exit(1), STOP_GRACE_MS);
  try {
    await app.stop();
  } catch (err) {
    onError(err);
    code = 1;
  }
  process.exit(code);
}

// Nothing may reject unhandled: the wasm backend turns that into a crash dump and exit 7.
main().catch((err: unknown) => {
  const message = (err as Error)?.stack ?? String(err);
  process.stderr.write(`Bloom stopped: ${redactSecrets(message, process.env.DISCORD_TOKEN ? [process.env.DISCORD_TOKEN] : [])}\n`);
  process.exit(1);
});
