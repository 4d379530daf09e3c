// How a command-line tool ends on an error: one `error:` line on stderr, exit code 1.
import { log } from './log.ts';

export function fail(err: unknown): never {
  log(`error: ${(err as Error)?.message ?? String(err)}`);
  process.exit(1);
}
