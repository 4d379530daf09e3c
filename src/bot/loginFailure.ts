// Why logging in to Discord failed, as one line an operator can act on (no stack,
// no token): a refused token, a refused intent, or Discord out of reach.

const NETWORK_CODES = new Set([
  'ECONNREFUSED',
  'ENOTFOUND',
  'EAI_AGAIN',
  'ETIMEDOUT',
  'ECONNRESET',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EPIPE',
]);

/** The network error code in an error or its causes (undici wraps it in "fetch failed"). */
function networkCode(err: unknown): string | undefined {
  for (
    let e = err as { code?: unknown; name?: unknown; cause?: unknown } | undefined, depth = 0;
    e && depth < 5;
    e = e.cause as typeof e, depth++
  ) {
    if (typeof e.code === 'string' && (NETWORK_CODES.has(e.code) || e.code.startsWith('UND_ERR_'))) return e.code;
    if (e.name === 'AbortError' || e.name === 'TimeoutError') return 'timeout';
  }
  return undefined;
}

export function loginFailureMessage(err: unknown, o: { apiUrl?: string } = {}): string {
  const e = err as { code?: unknown; status?: unknown; message?: unknown } | undefined;
  if (e?.code === 'TokenInvalid' || e?.status === 401) return 'Discord refused the token — check DISCORD_TOKEN.';
  if (e?.code === 'DisallowedIntents') {
    return 'Discord refused the Message Content intent — enable it for the bot (Developer Portal → Bot → Privileged Gateway Intents).';
  }
  const net = networkCode(err);
  if (net) return `Could not reach Discord (${net}) — check the network connection${o.apiUrl ? ` and DISCORD_API_URL (${o.apiUrl})` : ''}.`;
  const message = typeof e?.message === 'string' ? e.message.split('\n')[0] : String(err);
  return `Could not log in to Discord: ${message}`;
}
