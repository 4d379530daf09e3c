// What members do in the e2e tests of the learning loop: post a photo in the watched
// channel, press ✅ Right or ❌ Wrong and pick or type an answer (the real client against the emulator).
import assert from 'node:assert/strict';
import type { APIUser } from 'discord.js';
import type { InteractionResponse, StoredMessage } from '../../src/dev/emulator/index.ts';
import { photo, type Harness } from './botHarness.ts';

/** custom_ids of a message's components. */
export const buttons = (m: StoredMessage): string[] =>
  ((m.message.components ?? []) as unknown as { components?: { custom_id: string }[] }[])
    .flatMap((r) => r.components ?? [])
    .map((c) => c.custom_id);

/** `author` posts photo i of a class in #flowers; returns the bot's answer and its prediction id. */
export async function answered(
  h: Harness,
  label: '1' | '2' | '3',
  i: number,
  author: APIUser = h.emu.users.member,
): Promise<{ reply: StoredMessage; predictionId: number }> {
  const posted = await h.emu.postMessage({
    channelId: h.emu.channels.flowers.id,
    author,
    attachments: [h.emu.addAttachment(`f${label}-${i}.jpg`, photo(h, label, i), 'image/jpeg')],
  });
  const reply = await h.emu.waitForMessage(h.emu.channels.flowers.id, (m) => m.message.message_reference?.message_id === posted.id, 30_000);
  const predictionId = Number(/^fb:right:(\d+)$/.exec(buttons(reply)[0] ?? '')?.[1]);
  assert.ok(predictionId > 0, 'the answer carries feedback buttons');
  return { reply, predictionId };
}

const confirmed = async (h: Harness, interactionId: string): Promise<string> =>
  String((await h.emu.waitForInteractionResponse(interactionId, 'editOriginal', 20_000)).body.content);

/** ✅ Right; returns the private confirmation. */
export async function saysRight(h: Harness, reply: StoredMessage, predictionId: number, user: APIUser): Promise<string> {
  const c = await h.emu.clickComponent({ message: reply.message.id, customId: `fb:right:${predictionId}`, user });
  return confirmed(h, c.id);
}

/** ❌ Wrong → the private menu. */
async function wrongMenu(h: Harness, reply: StoredMessage, predictionId: number, user: APIUser): Promise<StoredMessage> {
  const c = await h.emu.clickComponent({ message: reply.message.id, customId: `fb:wrong:${predictionId}`, user });
  const r: InteractionResponse = await h.emu.waitForInteractionResponse(c.id, 'callback', 10_000);
  return h.emu.world.messages.get(r.message!.id)!;
}

/** ❌ Wrong → pick an option of the menu (`label:<l>` or `not_flower`); returns the confirmation. */
export async function saysWrongPick(h: Harness, reply: StoredMessage, predictionId: number, user: APIUser, value: string): Promise<string> {
  const menu = await wrongMenu(h, reply, predictionId, user);
  const c = await h.emu.clickComponent({ message: menu.message.id, customId: buttons(menu)[0]!, user, values: [value] });
  return confirmed(h, c.id);
}

/** ❌ Wrong → "Another species…" → type a name in the modal; returns the confirmation. */
export async function saysWrongName(h: Harness, reply: StoredMessage, predictionId: number, user: APIUser, typed: string): Promise<string> {
  const menu = await wrongMenu(h, reply, predictionId, user);
  const open = await h.emu.clickComponent({ message: menu.message.id, customId: buttons(menu)[0]!, user, values: ['other'] });
  assert.equal((await h.emu.waitForInteractionResponse(open.id, 'callback', 10_000)).callbackType, 9);
  const sent = await h.emu.submitModal({ interactionId: open.id, fields: { species: typed } });
  return confirmed(h, sent.id);
}
