// ReplyPayload (pure) → discord.js message options.
import { AttachmentBuilder, MessageFlags, type BaseMessageOptions } from 'discord.js';
import type { ReplyPayload } from './render.ts';

export function toMessage(p: ReplyPayload): BaseMessageOptions {
  return {
    content: p.content,
    embeds: p.embeds,
    files: p.files.map((f) => new AttachmentBuilder(f.data, { name: f.name })),
    ...(p.components && { components: p.components }),
    allowedMentions: { parse: [], repliedUser: false },
  };
}

export const EPHEMERAL = MessageFlags.Ephemeral;
