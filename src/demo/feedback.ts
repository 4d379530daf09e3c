// The demo's members pressing the feedback buttons under an answer, through the
// emulator as a person would: ✅ Right, or ❌ Wrong then a pick from the menu
// (or, when the right species is not in it, "Another species…" and its name typed).
import type { APIUser } from 'discord.js';
import { TALLY_MARK } from '../bot/feedbackRender.ts';
import type { Emulator, InteractionResponse, StoredMessage } from '../dev/emulator/index.ts';

interface Component {
  type: number;
  custom_id?: string;
  label?: string;
  placeholder?: string;
  emoji?: { name?: string };
  options?: { label: string; value: string; emoji?: { name?: string } }[];
  components?: Component[];
}

/** The interactive parts of a message: buttons and select menus, row by row flattened. */
export function componentsOf(m: { components?: unknown[] }): Component[] {
  return ((m.components ?? []) as Component[]).flatMap((r) => r.components ?? []);
}

const idOf = (m: StoredMessage, prefix: string): string => {
  const id = componentsOf(m.message).find((c) => c.custom_id?.startsWith(prefix))?.custom_id;
  if (!id) throw new Error(`the answer has no ${prefix} button`);
  return id;
};

/** The text of the bot's response to an interaction. */
const said = (r: InteractionResponse): string => (r.body as { content?: string }).content ?? '';

/** The tally line of an answer ("🗳️ ✅ 1 member says it's right"), empty before any vote. */
const tallyOf = (emu: Emulator, messageId: string): string =>
  String(emu.world.messages.get(messageId)?.message.content ?? '')
    .split('\n')
    .find((l) => l.startsWith(TALLY_MARK)) ?? '';

/** The tally line once it differs from `before` (the bot edits the answer after each vote). */
async function tallyAfter(emu: Emulator, messageId: string, before: string, timeoutMs = 30_000): Promise<string> {
  for (const end = Date.now() + timeoutMs; Date.now() < end; await new Promise((r) => setTimeout(r, 100))) {
    const now = tallyOf(emu, messageId);
    if (now && now !== before) return now;
  }
  throw new Error(`the tally line of ${messageId} did not change from "${before}"`);
}

/** ✅ Right: the private thanks, and the answer's tally line after it. */
export async function pressRight(emu: Emulator, answer: StoredMessage, user: APIUser): Promise<{ thanks: string; tally: string }> {
  const before = tallyOf(emu, answer.message.id);
  const click = await emu.clickComponent({ message: answer.message.id, customId: idOf(answer, 'fb:right:'), user });
  const thanks = said(await emu.waitForInteractionResponse(click.id, 'editOriginal', 30_000));
  return { thanks, tally: await tallyAfter(emu, answer.message.id, before) };
}

/**
 * ❌ Wrong, then the species `name` from the private menu (or typed, when the
 * menu does not list it): the menu, what was done, the thanks and the tally line.
 */
export async function pressWrong(
  emu: Emulator,
  answer: StoredMessage,
  user: APIUser,
  want: { label: string; name: string },
): Promise<{ menu: StoredMessage['message']; chose: string; thanks: string; tally: string }> {
  const before = tallyOf(emu, answer.message.id);
  const click = await emu.clickComponent({ message: answer.message.id, customId: idOf(answer, 'fb:wrong:'), user });
  const opened = await emu.waitForInteractionResponse(click.id, 'callback', 30_000);
  // A copy: once a species is picked the bot turns the menu into its thanks.
  const menu = structuredClone(emu.world.messages.get(opened.message!.id)!.message);
  const select = componentsOf(menu)[0]!;
  const listed = select.options?.find((o) => o.value === `label:${want.label}`);
  const pick = await emu.clickComponent({
    message: menu.id,
    customId: select.custom_id!,
    user,
    values: [listed ? listed.value : 'other'],
  });
  let chose = `picks "${listed?.label}" from the menu`;
  let answered = pick.id;
  if (!listed) {
    await emu.waitForInteractionResponse(pick.id, 'callback', 30_000);
    answered = (await emu.submitModal({ interactionId: pick.id, fields: { species: want.name } })).id;
    chose = `picks "Another species…" and types "${want.name}"`;
  }
  const thanks = said(await emu.waitForInteractionResponse(answered, 'editOriginal', 30_000));
  return { menu, chose, thanks, tally: await tallyAfter(emu, answer.message.id, before) };
}
