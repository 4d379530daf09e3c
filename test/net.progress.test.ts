import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { describe, it } from 'node:test';
import { createProgressReporter, silentProgress } from '../src/net/index.ts';

/** A non-TTY stream that records what was written. */
function capture(): { stream: NodeJS.WriteStream; lines: () => string[] } {
  let text = '';
  const stream = new Writable({
    write(chunk, _enc, cb) {
      text += String(chunk);
      cb();
    },
  }) as unknown as NodeJS.WriteStream;
  return { stream, lines: () => text.split('\n').filter(Boolean) };
}

describe('progress reporter', () => {
  it('prints occasional plain lines when the stream is not a terminal', () => {
    const { stream, lines } = capture();
    const bar = createProgressReporter({ stream, intervalMs: 60_000 })('102flowers.tgz');
    bar.update(0, 330_000_000);
    for (let i = 1; i <= 100; i++) bar.update(i * 3_300_000, 330_000_000); // throttled away
    bar.done();
    assert.deepEqual(lines(), ['102flowers.tgz: 0% (0 bytes / 330 MB)', '102flowers.tgz: done, 330 MB']);
  });

  it('handles an unknown total, and stays silent when nothing happened', () => {
    const { stream, lines } = capture();
    const report = createProgressReporter({ stream, intervalMs: 0 });
    const a = report('names');
    a.update(2_500, undefined);
    a.done();
    report('unused').done();
    silentProgress('x').update(1, 2);
    assert.deepEqual(lines(), ['names: 2.5 KB', 'names: done, 2.5 KB']);
  });
});
