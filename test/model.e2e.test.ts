// /model end to end: two trained versions of the synthetic model in the checkpoints
// folder (the second on another label set); list them, roll back and forth as an admin,
// and watch photos get answered by the version made live.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, afterEach, before, describe, test } from 'node:test';
import { assertNoUnknownRoutes, photo, type Harness } from './helpers/botHarness.ts';
import { startWithTwoVersions } from './helpers/modelVersions.ts';
import { finalResponse, postPhoto, replyTo } from './reliability/helpers.ts';

let h: Harness;
let v1: string;
let v2: string;
before(async () => {
  ({ h, v1, v2 } = await startWithTwoVersions());
});
after(async () => {
  await h?.stop();
});
afterEach(() => assertNoUnknownRoutes(h));

const current = () => fs.readFileSync(path.join(h.checkpointDir, 'CURRENT'), 'utf8').trim();

async function model(sub: 'list' | 'rollback', options: Record<string, string> = {}, user = h.emu.users.admin) {
  const { id } = await h.emu.invokeCommand({ name: 'model', subcommand: sub, options, user });
  return finalResponse(h, id, 30_000);
}

/** The model version in the footer of the answer to a photo. */
async function answeredBy(): Promise<string> {
  const posted = await postPhoto(h, { name: 'disc.jpg', bytes: photo(h, '1', 0), contentType: 'image/jpeg' });
  const reply = await replyTo(h, h.emu.channels.flowers.id, posted.id);
  return /model (\S+)/.exec(reply.message.embeds[0]!.footer!.text)![1]!;
}

describe('/model', () => {
  test('list: every version with its date, accuracy and species count, the live one marked', async () => {
    const r = await model('list', {}, h.emu.users.member);
    assert.equal(r.flags & 64, 64);
    const lines = (r.body.data.embeds[0].description as string).split('\n');
    assert.equal(lines.length, 2);
    assert.match(
      lines[0]!,
      new RegExp(`^⚪ ${v2} · \\d{4}-\\d\\d-\\d\\d \\d\\d:\\d\\d · valid \\d+\\.\\d % · eval \\d+\\.\\d % · 2 species$`),
      'trained models are measured per species too',
    );
    assert.match(lines[1]!, new RegExp(`^🟢 \\*\\*live\\*\\* ${v1} · .* · 3 species$`));
  });

  test('rollback offers the versions while typing', async () => {
    const { choices } = await h.emu.autocomplete({
      name: 'model',
      subcommand: 'rollback',
      focused: 'version',
      typed: '',
      user: h.emu.users.admin,
    });
    assert.deepEqual(
      choices.map((c) => c.value),
      [v2, v1],
    );
    assert.match(choices[1]!.name, /3 species \(live\)$/);
    const narrowed = await h.emu.autocomplete({
      name: 'model',
      subcommand: 'rollback',
      focused: 'version',
      typed: v2.slice(-6),
      user: h.emu.users.admin,
    });
    assert.deepEqual(
      narrowed.choices.map((c) => c.value),
      [v2],
    );
  });

  test('members, unknown versions and the live version are refused; nothing changes', async () => {
    const member = await model('rollback', { version: v2 }, h.emu.users.member);
    assert.match(member.body.data.content, /Only server admins can change the model/);
    const unknown = await model('rollback', { version: '20990101-000000-nope' });
    assert.match(unknown.body.content, /There is no model version "20990101-000000-nope"\. See `\/model list`/);
    const live = await model('rollback', { version: v1 });
    assert.match(live.body.content, new RegExp(`${v1} .* is already the live model; nothing changed`));
    assert.equal(h.app.models.version, v1);
    assert.equal(current(), v1);
  });

  test('an admin rolls over to another version and back: photos are answered by it, CURRENT names it, a restart keeps it', async () => {
    assert.equal(await answeredBy(), v1);
    const r = await model('rollback', { version: v2 });
    assert.equal(r.flags & 64, 64);
    assert.match(r.body.content, new RegExp(`^Rolled back: ${v2} .* is live now \\(was ${v1}\\)`));
    assert.equal(h.app.models.version, v2);
    assert.equal(current(), v2);
    assert.equal(await answeredBy(), v2);
    const listed = await model('list');
    assert.match(listed.body.data.embeds[0].description, new RegExp(`^🟢 \\*\\*live\\*\\* ${v2}`));

    await h.restartApp();
    assert.equal(h.app.models.version, v2, 'the restarted bot loads the version CURRENT names');

    await model('rollback', { version: v1 });
    assert.equal(await answeredBy(), v1);
    assert.equal(current(), v1);
  });

  test('refused while a retrain runs', async () => {
    const retrain = h.app.retrain as unknown as { active: Promise<unknown> | undefined };
    // As if a /retrain were under way: a real one of the synthetic model is over in a second or two.
    retrain.active = new Promise(() => undefined);
    try {
      const r = await model('rollback', { version: v2 });
      assert.match(r.body.content, /A retrain is running; wait for it to finish/);
      assert.equal(h.app.models.version, v1);
    } finally {
      retrain.active = undefined;
    }
  });
});
