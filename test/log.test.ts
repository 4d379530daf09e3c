import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createLogger, redactSecrets, REDACTED } from '../src/log.ts';

// Shaped like a Discord bot token (base64 id . timestamp . hmac).
const TOKEN = 'MTIzNDU2Nzg5MDEyMzQ1Njc4.GaBcDe.abcdefghijklmnopqrstuvwxyz0123456789AB';

function capture() {
  const lines: string[] = [];
  const destination = { write: (line: string) => void lines.push(line) };
  const text = () => lines.join('');
  const records = () => lines.map((l) => JSON.parse(l) as Record<string, unknown>);
  return { destination, text, records };
}

test('a secret in the message is replaced, and the line stays valid JSON', () => {
  const out = capture();
  const log = createLogger({ destination: out.destination, secrets: [TOKEN] });
  log.info(`logging in with ${TOKEN}`);
  log.info('formatted %s', TOKEN);
  assert.ok(!out.text().includes(TOKEN));
  const [first, second] = out.records();
  assert.equal(first?.msg, `logging in with ${REDACTED}`);
  assert.equal(second?.msg, `formatted ${REDACTED}`);
});

test("a secret in an error's message and stack is replaced", () => {
  const out = capture();
  const log = createLogger({ destination: out.destination, secrets: [TOKEN] });
  const err = new Error(`401 Unauthorized for token ${TOKEN}`);
  err.cause = new Error(`inner ${TOKEN}`);
  log.error({ err }, 'login failed');
  log.error({ error: new Error(TOKEN) }, 'second key');
  log.error(new Error(`bare ${TOKEN}`));
  assert.ok(!out.text().includes(TOKEN));
  const [first] = out.records();
  const serialized = first?.err as { message: string; stack: string };
  // pino's err serializer appends the cause's message.
  assert.equal(serialized.message, `401 Unauthorized for token ${REDACTED}: inner ${REDACTED}`);
  assert.match(serialized.stack, /\[REDACTED\]/);
});

test('a secret in a nested field (any key, any depth) is replaced', () => {
  const out = capture();
  const log = createLogger({ destination: out.destination, secrets: [TOKEN] });
  log.info({ a: { b: { c: [`x${TOKEN}y`] } }, url: `https://h/?t=${TOKEN}` }, 'nested');
  log.child({ session: TOKEN }).warn('child bindings too');
  assert.ok(!out.text().includes(TOKEN));
  const [first] = out.records();
  assert.deepEqual(first?.a, { b: { c: [`x${REDACTED}y`] } });
});

test('secret-named fields are censored even when the value is unknown', () => {
  const out = capture();
  const log = createLogger({ destination: out.destination });
  log.info({
    token: 'tok-1',
    client: { token: 'tok-2' },
    headers: { authorization: 'Bot tok-3', accept: 'json' },
    config: { discordToken: 'tok-4', dbPath: 'x' },
  });
  const [rec] = out.records();
  assert.ok(!/tok-\d/.test(out.text()));
  assert.equal(rec?.token, REDACTED);
  assert.deepEqual(rec?.headers, { authorization: REDACTED, accept: 'json' });
  assert.deepEqual(rec?.config, { discordToken: REDACTED, dbPath: 'x' });
});

test('level option filters output', () => {
  const out = capture();
  const log = createLogger({ destination: out.destination, level: 'warn' });
  log.info('hidden');
  log.warn('shown');
  assert.deepEqual(
    out.records().map((r) => r.msg),
    ['shown'],
  );
});

test('redactSecrets covers raw, JSON-escaped and URL-encoded forms; ignores tiny secrets', () => {
  const quoted = 'pa"ss\\word';
  assert.equal(redactSecrets(`a ${TOKEN} b ${TOKEN}`, [TOKEN]), `a ${REDACTED} b ${REDACTED}`);
  assert.equal(redactSecrets(JSON.stringify({ p: quoted }), [quoted]), `{"p":"${REDACTED}"}`);
  assert.equal(redactSecrets(`?p=${encodeURIComponent('a b&c/d')}`, ['a b&c/d']), `?p=${REDACTED}`);
  // A secret that contains another is redacted whole.
  assert.equal(redactSecrets('abcdef-123456', ['abcdef', 'abcdef-123456']), REDACTED);
  assert.equal(redactSecrets('a b c', ['', 'a']), 'a b c');
});
