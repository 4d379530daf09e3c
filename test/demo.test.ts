// The demo's parts: its line of figures, how a reply with buttons and menus reads,
// and its members pressing ✅ Right and ❌ Wrong through the emulator (the real
// discord.js client on the synthetic model).
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { pressRight, pressWrong } from '../src/demo/feedback.ts';
import { figuresLine, percent } from '../src/demo/figures.ts';
import { spreadsheetScreenshot } from '../src/demo/notFlowerPhoto.ts';
import { printReply } from '../src/demo/transcript.ts';
import type { StoredMessage } from '../src/dev/emulator/index.ts';
import { assertNoUnknownRoutes, photo, startHarness, type Harness } from './helpers/botHarness.ts';

const VALID = { images: 818, top1: 0.98, top5: 0.99, threshold: 0.35, confidentRight: 0.97, confidentWrong: 0.02, unsure: 0.01 };

test('the figures are the answer kinds when the model has answer settings, else sure/unsure at the threshold', () => {
  const answers = { speciesThreshold: 0.96, speciesRight: 0.902, speciesWrong: 0.0024, notSure: 0.0954, notFlower: 0 };
  assert.equal(
    figuresLine({ valid: { ...VALID, answers } }),
    'On its 818 validation photos (never trained on) this model names the right species for 90%, a wrong species for 0.2%, ' +
      'answers "not sure" with its best guesses for 10%, and "that doesn\'t look like a flower" for 0%.',
  );
  assert.match(figuresLine({ valid: VALID }), /sure and right 97% of the time, sure and wrong 2%, and answers "not sure" 1% \(below 35%\)/);
  assert.equal(percent(0.004), '0.4%', 'a small share is not rounded to none');
});

test('the not-a-flower photo is a JPEG made in code', async () => {
  const jpg = await spreadsheetScreenshot();
  assert.ok(jpg[0] === 0xff && jpg[1] === 0xd8 && jpg.length > 10_000);
});

describe('members press the feedback buttons, as in the demo', () => {
  let h: Harness;
  before(async () => {
    h = await startHarness();
  });
  after(async () => {
    assertNoUnknownRoutes(h);
    await h?.stop();
  });

  async function answer(label: '1' | '2' | '3', i: number): Promise<StoredMessage> {
    const posted = await h.emu.postMessage({
      channelId: h.emu.channels.flowers.id,
      attachments: [h.emu.addAttachment(`f${label}-${i}.jpg`, photo(h, label, i), 'image/jpeg')],
    });
    return h.emu.waitForMessage(h.emu.channels.flowers.id, (m) => m.message.message_reference?.message_id === posted.id, 30_000);
  }

  test('the transcript shows the buttons under an answer', async () => {
    const reply = await answer('1', 0);
    assert.match(printReply('bob', reply.message, reply.files), /\n {3}\[✅ Right\] \[❌ Wrong\]$/);
  });

  test('✅ Right: the thanks, then the edited tally line', async () => {
    const r = await pressRight(h.emu, await answer('2', 0), h.emu.addUser('carol'));
    assert.match(r.thanks, /^Thanks! Noted that it's right\./);
    assert.equal(r.tally, "🗳️ ✅ 1 member says it's right");
  });

  test('❌ Wrong: the menu, a species picked from it, the thanks and the tally line', async () => {
    const reply = await answer('3', 0);
    const top = h.app.store.recentPredictions(1)[0]!.top1Label;
    const other = ['1', '2', '3'].find((l) => l !== top)!;
    const r = await pressWrong(h.emu, reply, h.emu.addUser('dave'), { label: other, name: 'unused' });
    const menu = printReply('dave', r.menu, [], 64);
    assert.match(menu, /\(only they can see this\)/);
    assert.match(menu, /▾ What is it\?\n(.*\n)*.*✏️ Another species… \(type its name\)\n.*🚫 Not a flower$/);
    assert.match(r.chose, /^picks ".+" from the menu$/);
    assert.match(r.tally, /^🗳️ ❌ 1 member says: .+$/);
  });

  test('❌ Wrong with a species the menu does not list: "Another species…" and its name typed', async () => {
    const reply = await answer('1', 1);
    const r = await pressWrong(h.emu, reply, h.emu.addUser('erin'), { label: 'c-none', name: 'Lenten rose' });
    assert.equal(r.chose, 'picks "Another species…" and types "Lenten rose"');
    assert.equal(r.tally, '🗳️ ❌ 1 member says: Lenten rose (new to me)');
  });
});
