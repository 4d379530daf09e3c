// Rendering the service's domain results into Discord replies, and the one shape of
// a user-facing error: pure functions, no Discord and no model.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { loginFailureMessage } from '../src/bot/loginFailure.ts';
import { NAME_PROMPT, PHOTO_TIPS, renderFailure, renderIdentify, renderResult } from '../src/bot/render.ts';
import { ImageError } from '../src/classifier/images.ts';
import { InternalError, INTERNAL_MESSAGE, toUserFacing, UserFacingError } from '../src/errors.ts';
import { DownloadError } from '../src/net/errors.ts';
import { RetrainBusyError } from '../src/services/retrainService.ts';
import type { Identified, IdentifyOutcome } from '../src/services/identifyService.ts';

const identified = (o: Partial<Identified> = {}): Identified => ({
  kind: 'identified',
  top: [
    { label: '1', name: 'pink primrose', probability: 0.91 },
    { label: '2', name: 'globe thistle', probability: 0.06 },
    { label: '3', name: 'blanket flower', probability: 0.03 },
  ],
  uncertain: false,
  qualityNotes: [],
  modelVersion: '20260101-120000-abcdef',
  backend: 'wasm',
  ms: 123.4,
  logId: 7,
  ...o,
});

describe('renderResult', () => {
  test('a sure answer: title, percentage, candidates and footer, no tips', () => {
    const p = renderResult(identified());
    const e = p.embeds[0]!;
    assert.equal(e.title, '🌸 Pink Primrose');
    assert.equal(e.description, "I'm **91%** sure this is **Pink Primrose**.");
    assert.equal(e.fields!.length, 1);
    assert.equal(e.fields![0]!.name, 'Top candidates');
    assert.equal(e.fields![0]!.value.split('\n').length, 3);
    assert.equal(e.footer!.text, 'model 20260101-120000-abcdef · wasm · 123 ms');
    assert.deepEqual(p.files, []);
    assert.equal(e.image, undefined);
    assert.equal(e.thumbnail, undefined);
  });

  test('an uncertain answer with quality notes, the chart and the typical photo', () => {
    const jpeg = Buffer.from('jpeg'),
      chart = Buffer.from('png');
    const p = renderResult(
      identified({
        uncertain: true,
        qualityNotes: ['The photo is small (96×96 px).'],
        typical: { label: '1', name: 'pink primrose', jpeg },
      }),
      { chart },
    );
    const e = p.embeds[0]!;
    assert.equal(e.title, 'Not sure — is this a flower?');
    assert.match(e.description!, /best guess is \*\*Pink Primrose\*\*, but only at 91%/);
    assert.deepEqual(
      e.fields!.map((f) => f.name),
      ['Top candidates', 'For a better answer', '📷 Photo quality', 'Best guess looks like'],
    );
    assert.equal(e.fields![1]!.value, PHOTO_TIPS);
    assert.deepEqual(
      p.files.map((f) => [f.name, f.data]),
      [
        ['probabilities.png', chart],
        ['typical.jpg', jpeg],
      ],
    );
    assert.equal(e.image!.url, 'attachment://probabilities.png');
    assert.equal(e.thumbnail!.url, 'attachment://typical.jpg');
  });
});

describe('the kinds of answer', () => {
  test('"not sure": the candidates, the tips and a prompt to tell the name', () => {
    const e = renderResult(identified({ uncertain: true, answer: 'notSure' })).embeds[0]!;
    assert.equal(e.title, 'Not sure which flower this is');
    assert.match(e.description!, /best guess is \*\*Pink Primrose\*\*/);
    assert.deepEqual(
      e.fields!.map((f) => f.name),
      ['Top candidates', 'For a better answer', 'Know what it is?'],
    );
    assert.equal(e.fields![2]!.value, NAME_PROMPT);
  });

  test('"not a flower": no species name anywhere, no chart, no typical photo', async () => {
    const jpeg = Buffer.from('jpeg');
    const o = identified({ uncertain: true, answer: 'notFlower', typical: { label: '1', name: 'pink primrose', jpeg } });
    for (const p of [renderResult(o, { chart: Buffer.from('png') }), await renderIdentify(o)]) {
      const e = p.embeds[0]!;
      assert.equal(e.title, "That doesn't look like a flower");
      assert.doesNotMatch(JSON.stringify(p), /primrose|thistle|blanket/i);
      assert.deepEqual(p.files, []);
      assert.equal(e.footer!.text, 'model 20260101-120000-abcdef · wasm · 123 ms');
    }
  });
});

describe('renderIdentify', () => {
  test('draws the chart for a result', async () => {
    const p = await renderIdentify(identified());
    const chart = p.files.find((f) => f.name === 'probabilities.png')!;
    assert.equal(chart.data.subarray(1, 4).toString(), 'PNG');
  });

  test('a user-facing failure is the error embed with its message; an internal one a plain notice', async () => {
    const failed = (error: UserFacingError): IdentifyOutcome => ({ kind: 'failed', error, ms: 5, logId: null });
    const corrupt = await renderIdentify(failed(new ImageError('CORRUPT', 'sharp: premature end')));
    assert.equal(corrupt.embeds[0]!.title, "I couldn't identify that");
    assert.match(corrupt.embeds[0]!.description!, /damaged or cut off/);
    assert.doesNotMatch(JSON.stringify(corrupt), /premature/, 'the detail stays in the log');
    assert.deepEqual(corrupt.files, []);
    const internal = await renderIdentify(failed(new InternalError(new Error('SQLITE_CORRUPT at /var/lib/bloom'))));
    assert.equal(internal.content, INTERNAL_MESSAGE);
    assert.deepEqual(internal.embeds, []);
    assert.doesNotMatch(JSON.stringify(internal), /SQLITE|var\/lib/);
  });
});

describe('user-facing errors', () => {
  test('DownloadError, ImageError and RetrainBusyError share the base: code, user message, detail', () => {
    const d = new DownloadError('TOO_LARGE', { limitBytes: 10_000_000, detail: 'declared 30000000 bytes' });
    const i = new ImageError('EMPTY');
    const r = new RetrainBusyError();
    for (const e of [d, i, r]) assert.ok(e instanceof UserFacingError && e instanceof Error);
    assert.deepEqual(
      [d.code, d.userMessage, d.detail, d.name],
      ['TOO_LARGE', 'That file is larger than 10 MB — please send a smaller photo.', 'declared 30000000 bytes', 'DownloadError'],
    );
    assert.deepEqual([i.code, i.userMessage, i.name], ['EMPTY', 'That file is empty — please attach the photo again.', 'ImageError']);
    assert.deepEqual([r.code, r.name], ['RETRAIN_BUSY', 'RetrainBusyError']);
    assert.match(r.userMessage, /already running/);
    assert.equal(renderFailure(d).embeds[0]!.description, d.userMessage);
  });

  test('anything else becomes an internal error: generic message, cause and detail kept for the log', () => {
    const cause = new TypeError('cannot read properties of undefined');
    const e = toUserFacing(cause);
    assert.ok(e instanceof InternalError);
    assert.equal(e.code, 'INTERNAL');
    assert.equal(e.userMessage, INTERNAL_MESSAGE);
    assert.equal(e.cause, cause);
    assert.equal(e.detail, 'cannot read properties of undefined');
    const known = new ImageError('CORRUPT');
    assert.equal(toUserFacing(known), known);
  });
});

describe('loginFailureMessage', () => {
  test('a refused token, a refused intent, an unreachable Discord, anything else', () => {
    assert.equal(
      loginFailureMessage(Object.assign(new Error('An invalid token was provided.'), { code: 'TokenInvalid' })),
      'Discord refused the token — check DISCORD_TOKEN.',
    );
    assert.equal(
      loginFailureMessage(Object.assign(new Error('401: Unauthorized'), { status: 401 })),
      'Discord refused the token — check DISCORD_TOKEN.',
    );
    assert.match(
      loginFailureMessage(Object.assign(new Error('Privileged intent provided is not enabled'), { code: 'DisallowedIntents' })),
      /Message Content intent/,
    );
    assert.equal(
      loginFailureMessage(Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:9'), { code: 'ECONNREFUSED' })),
      'Could not reach Discord (ECONNREFUSED) — check the network connection.',
    );
    const wrapped = new TypeError('fetch failed', {
      cause: Object.assign(new Error('getaddrinfo ENOTFOUND discord.com'), { code: 'ENOTFOUND' }),
    });
    assert.equal(
      loginFailureMessage(wrapped, { apiUrl: 'http://x/api' }),
      'Could not reach Discord (ENOTFOUND) — check the network connection and DISCORD_API_URL (http://x/api).',
    );
    assert.equal(loginFailureMessage(new Error('something odd\n    at stack')), 'Could not log in to Discord: something odd');
  });
});
