// Issue 14, point 5: `npm start` with a token Discord refuses, or with Discord out of
// reach, says so in one line and exits 1 (it used to crash with a 39 KB dump of wasm
// glue and exit 7, because the login rejection went unhandled).
import assert from 'node:assert/strict';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { startEmulator, type Emulator } from '../../src/dev/emulator/index.ts';
import { prepareModel } from '../../src/dev/syntheticModel.ts';
import { startAppProcess } from './helpers.ts';

const WRONG_TOKEN = 'MTAwMDAwMDAwMDAwMDAwMDAx.GwrOng.not-the-token-the-emulator-accepts-xyz';

let tmp: string;
let model: Awaited<ReturnType<typeof prepareModel>>;
let emu: Emulator;
before(async () => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'bloom-login-'));
  model = await prepareModel(tmp);
  emu = await startEmulator();
});
after(async () => {
  await emu?.close();
  if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
});

/** Runs `npm start`'s entry point (src/main.ts) and waits for it to exit. */
async function runMain(
  env: Record<string, string>,
  ms = 90_000,
): Promise<{ code: number | null; signal: string | null; stdout: string; stderr: string }> {
  const p = startAppProcess(
    {
      BLOOM_WORKERS: '0',
      BLOOM_CHECKPOINT_DIR: model.checkpointDir,
      BLOOM_DATA_DIR: model.dataDir,
      BLOOM_FEATURE_CACHE: model.featureDir,
      BLOOM_BACKBONE_CACHE: path.join(tmp, 'cache'),
      BLOOM_DB_PATH: path.join(tmp, `main-${Date.now()}.sqlite`),
      ...env,
    },
    'src/main.ts',
  );
  const timer = setTimeout(() => p.child.kill('SIGKILL'), ms);
  const { code, signal } = await p.exited;
  clearTimeout(timer);
  return { code, signal, stdout: p.stdout(), stderr: p.stderr() };
}

/** stderr without the JSON log lines: what an operator reads. */
const plainLines = (stderr: string) => stderr.split('\n').filter((l) => l.trim() && !l.startsWith('{'));

async function closedPort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const { port } = server.address() as net.AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

describe('npm start when Discord cannot be logged in to', () => {
  test('a token Discord refuses: one clear line, exit 1, the token never printed', async () => {
    const r = await runMain({ DISCORD_TOKEN: WRONG_TOKEN, DISCORD_API_URL: emu.apiBase });
    assert.equal(r.signal, null, 'exited by itself');
    assert.equal(r.code, 1, r.stderr.slice(-2000));
    assert.deepEqual(plainLines(r.stderr), ['Discord refused the token — check DISCORD_TOKEN.']);
    assert.ok(r.stderr.length < 4000, `a short report, not a dump (${r.stderr.length} bytes)`);
    assert.ok(!(r.stdout + r.stderr).includes(WRONG_TOKEN), 'the token is not printed');
  });

  test('Discord out of reach: one clear line naming the problem, exit 1', async () => {
    const api = `http://127.0.0.1:${await closedPort()}/api`;
    const r = await runMain({ DISCORD_TOKEN: emu.token, DISCORD_API_URL: api });
    assert.equal(r.signal, null, 'exited by itself');
    assert.equal(r.code, 1, r.stderr.slice(-2000));
    assert.deepEqual(plainLines(r.stderr), [
      `Could not reach Discord (ECONNREFUSED) — check the network connection and DISCORD_API_URL (${api}).`,
    ]);
    assert.ok(r.stderr.length < 4000, `a short report, not a dump (${r.stderr.length} bytes)`);
    assert.ok(!(r.stdout + r.stderr).includes(emu.token), 'the token is not printed');
  });
});
