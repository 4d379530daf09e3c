// /forget end to end: a member who posted and voted asks to be forgotten, confirms
// with the button, and their votes, kept photos and name on identifications are gone;
// a photo another member kept too stays for them.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, afterEach, before, test } from 'node:test';
import type { APIUser } from 'discord.js';
import { assertNoUnknownRoutes, startHarness, type Harness } from './helpers/botHarness.ts';
import { answered, buttons, saysRight, saysWrongPick } from './helpers/feedbackActions.ts';

let h: Harness;
before(async () => {
  h = await startHarness({}, { registerCommands: true });
});
after(async () => {
  await h?.stop();
});
afterEach(() => assertNoUnknownRoutes(h));

const rows = (sql: string, ...params: unknown[]) => h.app.store.db.prepare(sql).all(...params) as Record<string, unknown>[];
const count = (sql: string, ...params: unknown[]) => Number(rows(sql, ...params)[0]!.n);
const fileOf = (predictionId: number, user: APIUser) =>
  path.join(
    h.tmp,
    'contributions',
    String(rows('SELECT path FROM contributions WHERE prediction_id = ? AND created_by = ?', predictionId, user.id)[0]!.path),
  );

/** The member runs /forget: the private question with its buttons (or the "nothing stored" answer). */
async function askToForget(user: APIUser) {
  const { id } = await h.emu.invokeCommand({ name: 'forget', user });
  const r = await h.emu.waitForInteractionResponse(id, 'callback', 5000);
  assert.equal(r.flags & 64, 64, 'private');
  return { text: String(r.body.data.content), messageId: r.message!.id };
}

test('a member with nothing stored is told so', async () => {
  const { text, messageId } = await askToForget(h.emu.addUser('newcomer'));
  assert.match(text, /I have nothing stored about you/);
  assert.deepEqual(buttons(h.emu.world.messages.get(messageId)!), []);
});

test('/forget removes votes, kept photos and the unshared photo file, keeps a photo another member kept, and unlinks identifications', async () => {
  const [hank, ivy] = [h.emu.addUser('hank'), h.emu.addUser('ivy')];
  const own = await answered(h, '1', 0, hank);
  await saysRight(h, own.reply, own.predictionId, hank);
  const shared = await answered(h, '2', 0, ivy);
  await saysWrongPick(h, shared.reply, shared.predictionId, hank, 'not_flower');
  await saysRight(h, shared.reply, shared.predictionId, ivy);
  await answered(h, '3', 0, hank); // no feedback: only an identification
  const ownFile = fileOf(own.predictionId, hank);
  const sharedFile = fileOf(shared.predictionId, hank);
  assert.equal(sharedFile, fileOf(shared.predictionId, ivy), 'one file for the photo both kept');
  const hanks = () => ({
    votes: count('SELECT count(*) AS n FROM votes WHERE user_id = ?', hank.id),
    contributions: count('SELECT count(*) AS n FROM contributions WHERE created_by = ?', hank.id),
    predictions: count('SELECT count(*) AS n FROM predictions WHERE user_id = ?', hank.id),
  });
  assert.deepEqual(hanks(), { votes: 2, contributions: 2, predictions: 2 });

  // Asked, then cancelled: nothing changes.
  const first = await askToForget(hank);
  assert.match(first.text, /your 2 votes/);
  assert.match(first.text, /the 2 photos I kept/);
  assert.match(first.text, /your name from 2 identifications/);
  assert.deepEqual(buttons(h.emu.world.messages.get(first.messageId)!), [`fg:yes:${hank.id}`, `fg:no:${hank.id}`]);
  const cancel = await h.emu.clickComponent({ message: first.messageId, customId: `fg:no:${hank.id}`, user: hank });
  const cancelled = await h.emu.waitForInteractionResponse(cancel.id, 'callback', 5000);
  assert.equal(cancelled.callbackType, 7);
  assert.equal(h.emu.world.messages.get(first.messageId)!.message.content, 'Nothing was removed.');
  assert.deepEqual(hanks(), { votes: 2, contributions: 2, predictions: 2 });

  // Someone else pressing hank's button (a forged or shared one) is refused.
  const second = await askToForget(hank);
  const other = await h.emu.clickComponent({ message: second.messageId, customId: `fg:yes:${hank.id}`, user: ivy, forge: true });
  const refused = await h.emu.waitForInteractionResponse(other.id, 'callback', 5000);
  assert.equal(refused.flags & 64, 64);
  assert.match(String(refused.body.data.content), /This button is for the member who asked/);
  assert.deepEqual(hanks(), { votes: 2, contributions: 2, predictions: 2 });

  // Confirmed.
  const yes = await h.emu.clickComponent({ message: second.messageId, customId: `fg:yes:${hank.id}`, user: hank });
  const done = String((await h.emu.waitForInteractionResponse(yes.id, 'editOriginal', 10_000)).body.content);
  assert.match(done, /• 2 votes removed/);
  assert.match(done, /• 2 kept photos removed \(1 photo file deleted; 1 photo stays because other members kept it too\)/);
  assert.match(done, /• 2 identifications no longer linked to you \(their user id is now empty\)/);
  assert.deepEqual(buttons(h.emu.world.messages.get(second.messageId)!), [], 'the buttons are gone');

  assert.deepEqual(hanks(), { votes: 0, contributions: 0, predictions: 0 });
  assert.equal(rows('SELECT user_id FROM predictions WHERE id = ?', own.predictionId)[0]!.user_id, null);
  assert.equal(fs.existsSync(ownFile), false, 'the photo only hank kept is deleted');
  assert.equal(fs.existsSync(sharedFile), true, 'the photo ivy kept too stays');
  assert.deepEqual(
    rows('SELECT created_by FROM contributions WHERE prediction_id = ?', shared.predictionId).map((r) => r.created_by),
    [ivy.id],
  );
  assert.equal(count('SELECT count(*) AS n FROM votes WHERE user_id = ?', ivy.id), 1, "ivy's vote stays");
  assert.match((await askToForget(hank)).text, /I have nothing stored about you/);
});
