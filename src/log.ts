import { pino, type DestinationStream, type Level, type Logger } from 'pino';

export type { Logger };
export type LogLevel = Level | 'silent';

export interface LoggerOptions {
  level?: LogLevel;
  /** Where JSON lines go; stderr (synchronously, so nothing is lost on a crash) by default. */
  destination?: NodeJS.WritableStream | DestinationStream;
  /** Literal strings (the bot token...) that must never reach the output, wherever they appear. */
  secrets?: readonly string[];
  name?: string;
}

export const REDACTED = '[REDACTED]';

/**
 * Field names that hold secrets by convention. These are censored even when we
 * don't know the value; the `secrets` guard covers known values in any position.
 */
export const REDACT_PATHS: readonly string[] = [
  'token',
  '*.token',
  'password',
  '*.password',
  'authorization',
  '*.authorization',
  'headers.authorization',
  'headers.cookie',
  '*.headers.authorization',
  '*.headers.cookie',
  'discordToken',
  '*.discordToken',
  'config.discordToken',
  'DISCORD_TOKEN',
  '*.DISCORD_TOKEN',
];

// Shorter strings would mangle unrelated output without protecting anything real.
const MIN_SECRET_LENGTH = 4;

function secretVariants(secrets: readonly string[]): string[] {
  const variants = new Set<string>();
  for (const secret of secrets) {
    if (secret.length < MIN_SECRET_LENGTH) continue;
    variants.add(secret);
    // The same secret as it looks inside a JSON string and inside a URL.
    variants.add(JSON.stringify(secret).slice(1, -1));
    variants.add(encodeURIComponent(secret));
  }
  // Longest first, so a secret containing another is replaced whole.
  return [...variants].sort((a, b) => b.length - a.length);
}

/** Replaces every occurrence of each secret (raw, JSON-escaped or URL-encoded) with `[REDACTED]`. */
export function redactSecrets(text: string, secrets: readonly string[]): string {
  let out = text;
  for (const variant of secretVariants(secrets)) out = out.replaceAll(variant, REDACTED);
  return out;
}

type Writable = { write(chunk: string): unknown };
type Flushable = Writable & {
  flush?: (cb?: (err?: Error) => void) => void;
  flushSync?: () => void;
  end?: () => void;
};

/** Wraps a destination so each serialized line is scrubbed just before it is written. */
function scrubbingDestination(inner: Flushable, secrets: readonly string[]): DestinationStream {
  const variants = secretVariants(secrets);
  const scrub = (line: string) => {
    let out = line;
    for (const variant of variants) out = out.replaceAll(variant, REDACTED);
    return out;
  };
  // pino calls flush/flushSync/end on the destination when present; pass them through.
  const wrapper: Flushable = { write: (line: string) => inner.write(scrub(line)) };
  if (inner.flush) wrapper.flush = (cb) => inner.flush!(cb);
  if (inner.flushSync) wrapper.flushSync = () => inner.flushSync!();
  if (inner.end) wrapper.end = () => inner.end!();
  return wrapper;
}

export function createLogger(opts: LoggerOptions = {}): Logger {
  const inner = (opts.destination ?? pino.destination({ fd: 2, sync: true })) as Flushable;
  const secrets = opts.secrets ?? [];
  const destination = secrets.length > 0 ? scrubbingDestination(inner, secrets) : (inner as DestinationStream);
  return pino(
    {
      level: opts.level ?? 'info',
      ...(opts.name !== undefined && { name: opts.name }),
      redact: { paths: [...REDACT_PATHS], censor: REDACTED },
      // Errors are often logged as `error` as well as pino's conventional `err`.
      serializers: { err: pino.stdSerializers.err, error: pino.stdSerializers.err },
    },
    destination,
  );
}
