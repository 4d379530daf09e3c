// Issue 14 point 4: a model worker that dies or hangs is not a silent, total outage.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { EmbedderPool } from '../../src/classifier/embedderPool.ts';
import { photo, startHarness, type Harness } from '../helpers/botHarness.ts';
import { eventually, logEntries, postPhoto, replyTo, textOf } from './helpers.ts';

let h: Harness;
before(async () => {
  h = await startHarness({ BLOOM_WORKERS: '2' });
});
after(async () => {
  await h?.stop();
});

const flowers = () => h.emu.channels.flowers.id;

describe('a model worker dies', () => {
  test('the photo in flight is answered "send it again", the death is logged, the worker is replaced and the next photo is answered', async () => {
    const pool = h.app.models.current!.embedder;
    assert.ok(pool instanceof EmbedderPool, 'the bot runs a worker pool');
    assert.equal(pool.size, 2);
    // The worker a lone photo goes to (the first idle one) crashes on its next request.
    pool.injectFault('exit', 0);
    const t0 = Date.now();
    const msg = await postPhoto(h, { name: 'disc.jpg', bytes: photo(h, '1'), contentType: 'image/jpeg' });
    const reply = await replyTo(h, flowers(), msg.id, 20_000);
    assert.match(textOf(reply), /My model worker restarted — please send that photo again\./);
    assert.ok(Date.now() - t0 < 10_000, 'answered promptly');
    const died = logEntries(h).find((e) => e.msg === 'model worker died; replacing it');
    assert.ok(died, 'the death is logged');
    assert.equal(died.level, 50);
    const row = h.app.store.db.prepare('SELECT error_code FROM predictions WHERE source_id = ?').get(msg.id) as
      { error_code: string } | undefined;
    assert.equal(row?.error_code, 'MODEL_RESTARTED');

    await eventually(
      () => logEntries(h).some((e) => e.msg === 'model worker replaced') && pool.size === 2,
      30_000,
      'the replacement worker',
    );
    for (const label of ['2', '3'] as const) {
      const next = await postPhoto(h, { name: `${label}.jpg`, bytes: photo(h, label), contentType: 'image/jpeg' });
      assert.match(textOf(await replyTo(h, flowers(), next.id, 20_000)), label === '2' ? /Green Square/ : /Blue Triangle/);
    }
  });
});
