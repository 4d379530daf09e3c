// Prints what the bot said in the emulator the way a chat reads.
import type { APIEmbed } from 'discord.js';
import { formatBytes } from '../net/index.ts';
import { componentsOf } from './feedback.ts';

export function printEmbed(e: APIEmbed, indent = '   '): string {
  const out: string[] = [];
  if (e.title) out.push(`${indent}${e.title}`);
  if (e.description) out.push(...e.description.split('\n').map((l) => indent + l.replace(/\*\*/g, '')));
  for (const f of e.fields ?? []) {
    out.push(`${indent}${f.name}:`);
    out.push(...f.value.split('\n').map((l) => `${indent}  ${l.replace(/\*\*|`/g, '')}`));
  }
  if (e.footer?.text) out.push(`${indent}— ${e.footer.text}`);
  return out.join('\n');
}

/** The parts of a message body (or a bot's reply payload) that printReply shows. */
export interface ReplyBody {
  content?: string | null;
  embeds?: APIEmbed[];
  components?: unknown[];
}

/** Buttons as [✅ Right] [❌ Wrong], a select menu as its list of options. */
export function printComponents(body: ReplyBody, indent = '   '): string[] {
  const parts = componentsOf(body);
  const buttons = parts
    .filter((c) => c.label !== undefined && !c.options)
    .map((c) => `[${c.emoji?.name ? `${c.emoji.name} ` : ''}${c.label}]`);
  const out = buttons.length ? [indent + buttons.join(' ')] : [];
  for (const menu of parts.filter((c) => c.options))
    out.push(
      `${indent}▾ ${menu.placeholder ?? 'menu'}`,
      ...menu.options!.map((o) => `${indent}  · ${o.emoji?.name ? `${o.emoji.name} ` : ''}${o.label}`),
    );
  return out;
}

export function printReply(who: string, body: ReplyBody, files: { filename: string; size: number }[], flags = 0): string {
  const lines = [`🤖 Bloom → ${who}${flags & 64 ? ' (only they can see this)' : ''}`];
  if (body.content) lines.push(...body.content.split('\n').map((l) => `   ${l.replace(/\*\*/g, '')}`));
  for (const e of body.embeds ?? []) lines.push(printEmbed(e));
  if (files.length) lines.push(`   📎 ${files.map((f) => `${f.filename} (${formatBytes(f.size)})`).join(', ')}`);
  lines.push(...printComponents(body));
  return lines.join('\n');
}
