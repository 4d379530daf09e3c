// How `npm start` ends (src/shutdown.ts): a stop that fails or hangs still exits, with 1.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { stopAndExit } from '../src/shutdown.ts';

const exits = () => {
  const codes: number[] = [];
  return { codes, exit: (c: number) => void codes.push(c) };
};

test('a clean stop exits with the given code, once', async () => {
  const e = exits();
  await stopAndExit(async () => {}, 0, { exit: e.exit, graceMs: 50 });
  await new Promise((r) => setTimeout(r, 80));
  assert.deepEqual(e.codes, [0]);
});

test('a stop that fails exits 1 and reports the error', async () => {
  const e = exits();
  const errors: unknown[] = [];
  const boom = new Error('database is locked');
  await stopAndExit(
    async () => {
      throw boom;
    },
    0,
    { exit: e.exit, graceMs: 50, onError: (err) => errors.push(err) },
  );
  assert.deepEqual(e.codes, [1]);
  assert.deepEqual(errors, [boom]);
});

test('a stop that never settles is cut short: exit 1 after the grace period', async () => {
  const e = exits();
  void stopAndExit(() => new Promise<void>(() => {}), 0, { exit: e.exit, graceMs: 30 });
  assert.deepEqual(e.codes, [], 'not before the grace period');
  await new Promise((r) => setTimeout(r, 100));
  assert.deepEqual(e.codes, [1]);
});
