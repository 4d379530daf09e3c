import assert from 'node:assert/strict';
import { DownloadError, type DownloadErrorCode } from '../../src/net/index.ts';

/** Awaits p and asserts it rejects with a DownloadError of the given code. */
export async function rejectsWith(p: Promise<unknown>, code: DownloadErrorCode): Promise<DownloadError> {
  try {
    await p;
  } catch (err) {
    assert.ok(err instanceof DownloadError, `expected DownloadError, got ${String(err)}`);
    assert.equal(err.code, code, `expected ${code}, got ${err.code}: ${err.detail ?? ''}`);
    return err;
  }
  assert.fail(`expected rejection with ${code}`);
}
