// Prints what the bot said in the emulator the way a chat reads.
import type { APIEmbed } from 'discord.js';
import { formatBytes } from '../net/index.ts';

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
}

export function printReply(who: string, body: ReplyBody, files: { filename: string; size: number }[], flags = 0): string {
  const lines = [`🤖 Bloom → ${who}${flags & 64 ? ' (only they can see this)' : ''}`];
  if (body.content) lines.push(`   ${body.content}`);
  for (const e of body.embeds ?? []) lines.push(printEmbed(e));
  if (files.length) lines.push(`   📎 ${files.map((f) => `${f.filename} (${formatBytes(f.size)})`).join(', ')}`);
  return lines.join('\n');
}
