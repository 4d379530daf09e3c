/**
 * Discord wire constants and small payload helpers shared by the REST and
 * gateway halves. Constants are spelled out here (rather than imported from
 * discord.js at runtime) so the emulator describes Discord, not the client.
 */
import { randomBytes } from 'node:crypto';
import type { APIEmbed } from 'discord.js';

export const API_VERSION = 10;
/** Discord epoch, 2015-01-01. Snowflakes carry real timestamps so discord.js `createdAt` makes sense. */
const DISCORD_EPOCH = 1420070400000n;
let increment = 0n;

export function snowflake(at = Date.now()): string {
  increment = (increment + 1n) & 0xfffn;
  return (((BigInt(at) - DISCORD_EPOCH) << 22n) | (1n << 17n) | increment).toString();
}

/** Bot tokens look like base64(user id) . timestamp . hmac; keep the shape so redaction code is exercised. */
export function makeToken(botId: string): string {
  const ts = randomBytes(4).toString('base64url');
  return `${Buffer.from(botId).toString('base64url')}.${ts}.${randomBytes(27).toString('base64url')}`;
}

export const Intents = {
  Guilds: 1 << 0,
  GuildMembers: 1 << 1,
  GuildMessages: 1 << 9,
  GuildMessageReactions: 1 << 10,
  DirectMessages: 1 << 12,
  DirectMessageReactions: 1 << 13,
  MessageContent: 1 << 15,
} as const;

export const Permissions = {
  CreateInstantInvite: 1n << 0n,
  Administrator: 1n << 3n,
  AddReactions: 1n << 6n,
  ViewChannel: 1n << 10n,
  SendMessages: 1n << 11n,
  EmbedLinks: 1n << 14n,
  AttachFiles: 1n << 15n,
  ReadMessageHistory: 1n << 16n,
  UseExternalEmojis: 1n << 18n,
  Connect: 1n << 20n,
  Speak: 1n << 21n,
  ChangeNickname: 1n << 26n,
  UseApplicationCommands: 1n << 31n,
  SendMessagesInThreads: 1n << 38n,
  /** Every permission bit Discord currently defines; what an administrator's computed permissions serialise to. */
  All: 8866461766385663n,
} as const;

/** Roughly Discord's default @everyone permissions for a new server. */
export const EVERYONE_PERMISSIONS =
  Permissions.CreateInstantInvite |
  Permissions.AddReactions |
  Permissions.ViewChannel |
  Permissions.SendMessages |
  Permissions.EmbedLinks |
  Permissions.AttachFiles |
  Permissions.ReadMessageHistory |
  Permissions.UseExternalEmojis |
  Permissions.Connect |
  Permissions.Speak |
  Permissions.ChangeNickname |
  Permissions.UseApplicationCommands |
  Permissions.SendMessagesInThreads;

export const ChannelType = { GuildText: 0, DM: 1 } as const;

export const MessageType = { Default: 0, Reply: 19, ChatInputCommand: 20 } as const;

export const MessageFlags = { SuppressEmbeds: 1 << 2, Ephemeral: 1 << 6, Loading: 1 << 7 } as const;

export const InteractionCallbackType = {
  Pong: 1,
  ChannelMessageWithSource: 4,
  DeferredChannelMessageWithSource: 5,
  DeferredUpdateMessage: 6,
  UpdateMessage: 7,
  Autocomplete: 8,
  Modal: 9,
} as const;

export const OptionType = {
  Subcommand: 1,
  SubcommandGroup: 2,
  String: 3,
  Integer: 4,
  Boolean: 5,
  User: 6,
  Channel: 7,
  Role: 8,
  Mentionable: 9,
  Number: 10,
  Attachment: 11,
} as const;

/** An error Discord would answer with: `{ code, message, errors? }` and an HTTP status. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: number,
    message: string,
    readonly errors?: unknown,
  ) {
    super(message);
  }
  toJSON(): Record<string, unknown> {
    return { message: this.message, code: this.code, ...(this.errors ? { errors: this.errors } : {}) };
  }
}

export const Errors = {
  unauthorized: () => new ApiError(401, 0, '401: Unauthorized'),
  notFound: () => new ApiError(404, 0, '404: Not Found'),
  unknownChannel: () => new ApiError(404, 10003, 'Unknown Channel'),
  unknownGuild: () => new ApiError(404, 10004, 'Unknown Guild'),
  unknownMember: () => new ApiError(404, 10007, 'Unknown Member'),
  unknownMessage: () => new ApiError(404, 10008, 'Unknown Message'),
  unknownUser: () => new ApiError(404, 10013, 'Unknown User'),
  unknownWebhook: () => new ApiError(404, 10015, 'Unknown Webhook'),
  unknownCommand: () => new ApiError(404, 10063, 'Unknown application command'),
  unknownInteraction: () => new ApiError(404, 10062, 'Unknown interaction'),
  alreadyAcknowledged: () => new ApiError(400, 40060, 'Interaction has already been acknowledged.'),
  cannotEditOthers: () => new ApiError(403, 50005, 'Cannot edit a message authored by another user'),
  emptyMessage: () => new ApiError(400, 50006, 'Cannot send an empty message'),
  tooLarge: () => new ApiError(413, 40005, 'Request entity too large'),
  invalidJson: () => new ApiError(400, 50109, 'The request body contains invalid JSON.'),
  /** 50035 with Discord's nested `errors` shape: { field: { _errors: [{ code, message }] } }. */
  invalidForm: (field: string, message: string, code = 'BASE_TYPE_BAD_LENGTH') => {
    const errors: Record<string, unknown> = {};
    let node = errors;
    const parts = field.split('.');
    parts.forEach((part, i) => {
      const next: Record<string, unknown> = i === parts.length - 1 ? { _errors: [{ code, message }] } : {};
      node[part] = next;
      node = next;
    });
    return new ApiError(400, 50035, 'Invalid Form Body', errors);
  },
};

/** Discord's documented message limits; breaking them is a bot bug the emulator should surface, not hide. */
export function validateMessageBody(body: Record<string, unknown>, fileCount: number, opts: { allowEmpty?: boolean } = {}): void {
  const content = body.content;
  if (content != null && typeof content !== 'string') throw Errors.invalidForm('content', 'Must be a string.', 'BASE_TYPE_STRING');
  if (typeof content === 'string' && content.length > 2000) {
    throw Errors.invalidForm('content', 'Must be 2000 or fewer in length.');
  }
  const embeds = (body.embeds ?? []) as APIEmbed[];
  if (!Array.isArray(embeds)) throw Errors.invalidForm('embeds', 'Must be an array.', 'BASE_TYPE_ARRAY');
  if (embeds.length > 10) throw Errors.invalidForm('embeds', 'Must be 10 or fewer in length.', 'BASE_TYPE_MAX_LENGTH');
  if (fileCount > 10) throw Errors.invalidForm('files', 'Must be 10 or fewer in length.', 'BASE_TYPE_MAX_LENGTH');
  let total = 0;
  embeds.forEach((embed, i) => {
    const limit = (field: string, value: string | undefined, max: number) => {
      if (value == null) return;
      if (typeof value !== 'string') throw Errors.invalidForm(`embeds.${i}.${field}`, 'Must be a string.', 'BASE_TYPE_STRING');
      if (value.length > max) throw Errors.invalidForm(`embeds.${i}.${field}`, `Must be ${max} or fewer in length.`);
      total += value.length;
    };
    limit('title', embed.title, 256);
    limit('description', embed.description, 4096);
    limit('footer.text', embed.footer?.text, 2048);
    limit('author.name', embed.author?.name, 256);
    const fields = embed.fields ?? [];
    if (fields.length > 25) throw Errors.invalidForm(`embeds.${i}.fields`, 'Must be 25 or fewer in length.', 'BASE_TYPE_MAX_LENGTH');
    fields.forEach((f, j) => {
      if (!f.name) throw Errors.invalidForm(`embeds.${i}.fields.${j}.name`, 'This field is required', 'BASE_TYPE_REQUIRED');
      if (!f.value) throw Errors.invalidForm(`embeds.${i}.fields.${j}.value`, 'This field is required', 'BASE_TYPE_REQUIRED');
      limit(`fields.${j}.name`, f.name, 256);
      limit(`fields.${j}.value`, f.value, 1024);
    });
  });
  if (total > 6000) throw Errors.invalidForm('embeds', 'Embed size exceeds maximum size of 6000', 'MAX_EMBED_SIZE_EXCEEDED');
  const components = body.components;
  const hasContent =
    (typeof content === 'string' && content.length > 0) ||
    embeds.length > 0 ||
    fileCount > 0 ||
    (Array.isArray(components) && components.length > 0) ||
    (Array.isArray(body.sticker_ids) && body.sticker_ids.length > 0) ||
    body.poll != null;
  if (!hasContent && !opts.allowEmpty) throw Errors.emptyMessage();
}

export function isoNow(): string {
  return new Date().toISOString().replace('Z', '+00:00');
}
