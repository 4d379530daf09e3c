// Time-left estimates of long phases: from the recent rate, not the whole phase's.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { formatDuration, RateEstimator } from '../src/cli/eta.ts';

test('no estimate until there is a few seconds of progress', () => {
  let t = 0;
  const e = new RateEstimator(60_000, () => t);
  e.update(0);
  t = 2000;
  e.update(10);
  assert.equal(e.describe(100), '');
  t = 10_000;
  e.update(40);
  assert.equal(e.rate(), 4);
  assert.equal(e.secondsLeft(100), 15);
  assert.equal(e.describe(100), ' · 4.0/s · about 15 s left in this step');
});

test('a fast start (cache hits) is forgotten once it leaves the window', () => {
  let t = 0;
  const e = new RateEstimator(60_000, () => t);
  e.update(0);
  t = 5000;
  e.update(5000); // cached views: 1000/s
  for (let i = 1; i <= 30; i++) {
    t = 5000 + i * 10_000;
    e.update(5000 + i * 20); // then 2 views/s
  }
  assert.ok(Math.abs(e.rate()! - 2) < 1e-9, `rate ${e.rate()}`);
  assert.equal(Math.round(e.secondsLeft(10_000)!), 2200);
});

test('durations read as a person would say them', () => {
  assert.equal(formatDuration(42), '42 s');
  assert.equal(formatDuration(754), '13 min');
  assert.equal(formatDuration(8640), '2 h 24 min');
  assert.equal(formatDuration(3600), '1 h 00 min');
});
