// The bot as its own process, for tests that need a real process boundary (SIGTERM,
// resources left behind by a failed start). Configured like `npm start` through the
// environment, plus:
//   BLOOM_TEST_ALLOW_ORIGINS  comma-separated origins downloads may reach (the emulator CDN)
// Prints "ready" on stdout once online. On SIGTERM it drains with app.stop() as src/main.ts
// does, but then lets the process end by itself instead of calling process.exit(): a
// leftover timer, socket or worker thread shows up as a process that does not exit.
import { createApp } from '../../src/app.ts';
import { loadConfig } from '../../src/config.ts';
import { createLogger } from '../../src/log.ts';

const config = loadConfig(process.env, { requireToken: true });
const log = createLogger({ level: config.logLevel, secrets: [config.discordToken] });
const allowOrigins = (process.env.BLOOM_TEST_ALLOW_ORIGINS ?? '').split(',').filter(Boolean);

try {
  const app = await createApp({ config, log, addressPolicy: { allowOrigins } });
  process.once('SIGTERM', () => {
    log.info({ signal: 'SIGTERM' }, 'shutting down: finishing in-flight replies');
    void app.stop().then(() => process.stdout.write('stopped\n'));
  });
  await app.bot.start(config.discordToken);
  process.stdout.write('ready\n');
} catch (err) {
  process.stderr.write(`${(err as Error).name}: ${(err as Error).message}\n`);
  process.exitCode = 1;
}
