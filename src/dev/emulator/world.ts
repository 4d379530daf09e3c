/**
 * The emulated Discord state: one guild, its users and channels, DM channels,
 * messages (with the bytes of every uploaded file), slash-command
 * registrations and interactions. REST handlers and test helpers both mutate
 * it through the methods here, so the rules (ids, CDN urls, validation,
 * gateway echoes) live in one place.
 */
import { randomBytes } from 'node:crypto';
import type { APIApplicationCommand, APIAttachment, APIChannel, APIEmbed, APIMessage, APIRole, APIUser } from 'discord.js';
import { imageSize } from './images.ts';
import {
  ApiError,
  ChannelType,
  Errors,
  EVERYONE_PERMISSIONS,
  isoNow,
  MessageFlags,
  MessageType,
  OptionType,
  Permissions,
  snowflake,
  validateMessageBody,
} from './payloads.ts';

export interface StoredFile {
  /** Multipart field name, e.g. `files[0]`. */
  field: string;
  filename: string;
  contentType: string;
  size: number;
  bytes: Buffer;
}

export interface StoredMessage {
  /** Current state, exactly as the API would return it now (edits applied). */
  message: APIMessage;
  /** Files uploaded with this message (creation and later edits), with their bytes. */
  files: StoredFile[];
  deleted: boolean;
  /** Emoji the bot reacted with (`PUT .../reactions/:emoji/@me`), in API form (`🌸` or `name:id`). */
  reactions: string[];
  /** Set for interaction responses and follow-ups. */
  interactionId?: string;
}

export interface GuildMemberState {
  user: APIUser;
  roles: string[];
  nick: string | null;
  joinedAt: string;
}

export interface EmuGuild {
  id: string;
  name: string;
  ownerId: string;
  roles: APIRole[];
  channels: GuildTextChannel[];
  members: Map<string, GuildMemberState>;
  joinedAt: string;
}

export interface GuildTextChannel {
  id: string;
  type: 0;
  guild_id: string;
  name: string;
  position: number;
  topic: string | null;
  nsfw: boolean;
  parent_id: string | null;
  rate_limit_per_user: number;
  permission_overwrites: [];
  last_message_id: string | null;
  flags: number;
}

export interface DMChannel {
  id: string;
  type: 1;
  recipients: APIUser[];
  last_message_id: string | null;
  flags: number;
}

export type InteractionResponseKind = 'callback' | 'editOriginal' | 'deleteOriginal' | 'followup' | 'editFollowup' | 'deleteFollowup';

/**
 * A JSON payload as the bot sent it (or as the emulator answered), kept for tests
 * to reach into (`r.body.embeds[0].title`): its shape is what they assert, so it is
 * left unchecked here. The emulator's own code reads bodies as Record<string, unknown>.
 */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- test-facing recorded JSON; see the comment above
export type RecordedJson = any;

/** One successful response a bot made to an interaction, in order. */
export interface InteractionResponse {
  kind: InteractionResponseKind;
  /** For `callback`: the interaction callback type (4 reply, 5 deferred, 9 modal, ...). */
  callbackType?: number;
  /** Message flags the bot asked for (64 = ephemeral); for deferrals, the flags of the deferral. */
  flags: number;
  /** JSON body (or `payload_json` of a multipart body). */
  body: RecordedJson;
  files: StoredFile[];
  /** Snapshot of the affected message after this step, when there is one. */
  message?: APIMessage;
  at: number;
}

export interface InteractionState {
  id: string;
  token: string;
  payload: Record<string, unknown>;
  channelId: string;
  guildId: string | null;
  createdAt: number;
  /** Callback type of the initial response, or null while unanswered. */
  acknowledged: number | null;
  originalId: string | null;
  responses: InteractionResponse[];
}

export type Dispatch = (event: string, data: Record<string, unknown>) => void;

export interface WorldOptions {
  cdnBase: string;
  mediaBase: string;
  uploadLimitBytes: number;
  interactionDeadlineMs: number;
  dispatch: Dispatch;
}

interface CdnFile {
  filename: string;
  contentType: string;
  bytes: Buffer;
}

const user = (id: string, username: string, bot = false): APIUser => ({
  id,
  username,
  global_name: bot ? null : username[0]!.toUpperCase() + username.slice(1),
  discriminator: bot ? '4821' : '0',
  avatar: null,
  ...(bot ? { bot: true } : {}),
  public_flags: 0 as APIUser['public_flags'],
});

export class World {
  readonly botUser: APIUser;
  readonly applicationId: string;
  readonly guild: EmuGuild;
  readonly users = new Map<string, APIUser>();
  readonly admin: APIUser;
  readonly member: APIUser;
  readonly adminRoleId: string;
  readonly botRoleId: string;
  readonly dmChannels = new Map<string, DMChannel>(); // by recipient id
  readonly messages = new Map<string, StoredMessage>();
  readonly cdn = new Map<string, CdnFile>(); // by attachment id
  readonly globalCommands: APIApplicationCommand[] = [];
  readonly guildCommands = new Map<string, APIApplicationCommand[]>();
  readonly interactions = new Map<string, InteractionState>();
  readonly interactionsByToken = new Map<string, InteractionState>();

  constructor(private readonly opts: WorldOptions) {
    this.applicationId = snowflake();
    this.botUser = user(this.applicationId, 'Bloom', true); // bot user id == application id, as on Discord
    this.admin = user(snowflake(), 'alice');
    this.member = user(snowflake(), 'bob');
    for (const u of [this.botUser, this.admin, this.member]) this.users.set(u.id, u);

    const guildId = snowflake();
    this.adminRoleId = snowflake();
    this.botRoleId = snowflake();
    const role = (id: string, name: string, permissions: bigint, position: number, extra: Partial<APIRole> = {}): APIRole => ({
      id,
      name,
      color: 0,
      colors: { primary_color: 0, secondary_color: null, tertiary_color: null },
      hoist: false,
      icon: null,
      unicode_emoji: null,
      position,
      permissions: permissions.toString(),
      managed: false,
      mentionable: false,
      flags: 0 as APIRole['flags'],
      ...extra,
    });
    const channel = (name: string, position: number, topic: string): GuildTextChannel => ({
      id: snowflake(),
      type: ChannelType.GuildText,
      guild_id: guildId,
      name,
      position,
      topic,
      nsfw: false,
      parent_id: null,
      rate_limit_per_user: 0,
      permission_overwrites: [],
      last_message_id: null,
      flags: 0,
    });
    const joinedAt = isoNow();
    this.guild = {
      id: guildId,
      name: 'Bloom Test Garden',
      ownerId: this.admin.id,
      roles: [
        role(guildId, '@everyone', EVERYONE_PERMISSIONS, 0),
        // The managed role Discord creates for a bot invited with permissions.
        role(this.botRoleId, 'Bloom', EVERYONE_PERMISSIONS, 1, { managed: true, tags: { bot_id: this.botUser.id } }),
        role(this.adminRoleId, 'Admin', Permissions.Administrator, 2, { color: 0xe67e22, hoist: true }),
      ],
      channels: [channel('general', 0, 'Say hi'), channel('flowers', 1, 'Post a flower photo')],
      members: new Map(),
      joinedAt,
    };
    this.addMember(this.botUser, [this.botRoleId], joinedAt);
    this.addMember(this.admin, [this.adminRoleId]);
    this.addMember(this.member, []);
  }

  // ---- users, members, permissions -------------------------------------------------

  addMember(u: APIUser, roles: string[], joinedAt = isoNow()): GuildMemberState {
    const state = { user: u, roles, nick: null, joinedAt };
    this.guild.members.set(u.id, state);
    return state;
  }

  addUser(username: string, opts: { roles?: string[]; inGuild?: boolean } = {}): APIUser {
    const u = user(snowflake(), username);
    this.users.set(u.id, u);
    if (opts.inGuild !== false) {
      const state = this.addMember(u, opts.roles ?? []);
      this.opts.dispatch('GUILD_MEMBER_ADD', { ...this.memberPayload(state), guild_id: this.guild.id });
    }
    return u;
  }

  memberPayload(m: GuildMemberState, withUser = true): Record<string, unknown> {
    return {
      ...(withUser ? { user: m.user } : {}),
      roles: m.roles,
      nick: m.nick,
      avatar: null,
      banner: null,
      joined_at: m.joinedAt,
      premium_since: null,
      deaf: false,
      mute: false,
      flags: 0,
      pending: false,
      communication_disabled_until: null,
    };
  }

  /** Guild-level permissions (no channel overwrites exist here); owner and administrators get everything. */
  permissionsOf(userId: string): bigint {
    const m = this.guild.members.get(userId);
    if (!m) return 0n;
    if (userId === this.guild.ownerId) return Permissions.All;
    let perms = 0n;
    for (const r of this.guild.roles) {
      if (r.id === this.guild.id || m.roles.includes(r.id)) perms |= BigInt(r.permissions);
    }
    return perms & Permissions.Administrator ? Permissions.All : perms;
  }

  // ---- channels ---------------------------------------------------------------------

  channel(id: string): GuildTextChannel | DMChannel | undefined {
    return this.guild.channels.find((c) => c.id === id) ?? [...this.dmChannels.values()].find((c) => c.id === id);
  }

  requireChannel(id: string): GuildTextChannel | DMChannel {
    const c = this.channel(id);
    if (!c) throw Errors.unknownChannel();
    return c;
  }

  channelByName(name: string): GuildTextChannel {
    const c = this.guild.channels.find((ch) => ch.name === name);
    if (!c) throw new Error(`emulator: no channel named #${name}`);
    return c;
  }

  dmChannelFor(recipient: APIUser): DMChannel {
    let dm = this.dmChannels.get(recipient.id);
    if (!dm) {
      dm = { id: snowflake(), type: ChannelType.DM, recipients: [recipient], last_message_id: null, flags: 0 };
      this.dmChannels.set(recipient.id, dm);
    }
    return dm;
  }

  /** Guild channel payload as GUILD_CREATE and GET /channels return it. */
  channelPayload(c: GuildTextChannel | DMChannel): APIChannel {
    return { ...c } as unknown as APIChannel;
  }

  guildCreatePayload(): Record<string, unknown> {
    const g = this.guild;
    return {
      ...this.guildPayload(),
      joined_at: g.joinedAt,
      large: false,
      unavailable: false,
      member_count: g.members.size,
      members: [...g.members.values()].map((m) => this.memberPayload(m)),
      channels: g.channels.map((c) => this.channelPayload(c)),
      threads: [],
      presences: [],
      voice_states: [],
      stage_instances: [],
      guild_scheduled_events: [],
      soundboard_sounds: [],
    };
  }

  /** Guild object as REST returns it (GET /guilds/:id). */
  guildPayload(): Record<string, unknown> {
    const g = this.guild;
    return {
      id: g.id,
      name: g.name,
      icon: null,
      splash: null,
      discovery_splash: null,
      banner: null,
      description: null,
      owner_id: g.ownerId,
      application_id: null,
      region: 'deprecated',
      afk_channel_id: null,
      afk_timeout: 300,
      system_channel_id: g.channels[0]?.id ?? null,
      system_channel_flags: 0,
      widget_enabled: false,
      widget_channel_id: null,
      verification_level: 0,
      default_message_notifications: 0,
      explicit_content_filter: 0,
      mfa_level: 0,
      nsfw_level: 0,
      premium_tier: 0,
      premium_subscription_count: 0,
      premium_progress_bar_enabled: false,
      preferred_locale: 'en-US',
      rules_channel_id: null,
      public_updates_channel_id: null,
      safety_alerts_channel_id: null,
      vanity_url_code: null,
      max_members: 500000,
      max_video_channel_users: 25,
      max_stage_video_channel_users: 50,
      features: [],
      roles: g.roles,
      emojis: [],
      stickers: [],
      incidents_data: null,
    };
  }

  // ---- attachments / CDN ------------------------------------------------------------

  /** Store bytes on the CDN and describe them the way Discord does, including the signed-url query string. */
  storeAttachment(channelId: string, filename: string, bytes: Buffer, contentType?: string, description?: string): APIAttachment {
    const id = snowflake();
    const name = filename.replace(/\s+/g, '_');
    const type = contentType ?? guessContentType(name);
    this.cdn.set(id, { filename: name, contentType: type, bytes });
    const path = `/attachments/${channelId}/${id}/${encodeURIComponent(name)}`;
    const now = Math.floor(Date.now() / 1000);
    const sig = `?ex=${(now + 86400).toString(16)}&is=${now.toString(16)}&hm=${randomBytes(32).toString('hex')}&`;
    const size = imageSize(bytes);
    return {
      id,
      filename: name,
      ...(description ? { description } : {}),
      content_type: type,
      size: bytes.length,
      url: `${this.opts.cdnBase}${path}${sig}`,
      proxy_url: `${this.opts.mediaBase}${path}${sig}`,
      ...(size ? { width: size.width, height: size.height, placeholder_version: 1 } : {}),
    };
  }

  cdnFile(attachmentId: string, filename: string): CdnFile | undefined {
    const f = this.cdn.get(attachmentId);
    return f && f.filename === filename ? f : undefined;
  }

  // ---- messages ---------------------------------------------------------------------

  message(channelId: string, messageId: string): StoredMessage {
    const m = this.messages.get(messageId);
    if (!m || m.deleted || m.message.channel_id !== channelId) throw Errors.unknownMessage();
    return m;
  }

  /** Shared by user posts, bot posts, interaction responses and follow-ups. */
  createMessage(input: {
    channelId: string;
    author: APIUser;
    body: Record<string, unknown>;
    files?: StoredFile[];
    /** Pre-built attachments (user posts via addAttachment). */
    attachments?: APIAttachment[];
    type?: number;
    extraFlags?: number;
    allowEmpty?: boolean;
    interaction?: InteractionState;
  }): StoredMessage {
    const channel = this.requireChannel(input.channelId);
    const files = input.files ?? [];
    validateMessageBody(input.body, files.length, { allowEmpty: input.allowEmpty });
    this.checkUploadSize(files);
    const attachments = [...(input.attachments ?? []), ...this.attachmentsFor(channel.id, input.body, files)];
    const ref = input.body.message_reference as { message_id?: string; fail_if_not_exists?: boolean } | undefined;
    let referenced: StoredMessage | undefined;
    if (ref?.message_id) {
      referenced = this.messages.get(ref.message_id);
      // A deleted message is unknown too: replying to it is a 400 (or a plain message with fail_if_not_exists: false).
      if (!referenced || referenced.deleted || referenced.message.channel_id !== channel.id) {
        if (ref.fail_if_not_exists !== false)
          throw Errors.invalidForm('message_reference', 'Unknown message', 'MESSAGE_REFERENCE_UNKNOWN_MESSAGE');
        referenced = undefined;
      }
    }
    const guildId = channel.type === ChannelType.GuildText ? channel.guild_id : undefined;
    const interaction = input.interaction;
    const flags = ((input.body.flags as number | undefined) ?? 0) | (input.extraFlags ?? 0);
    const content = (input.body.content as string | undefined) ?? '';
    const message = {
      id: snowflake(),
      channel_id: channel.id,
      author: input.author,
      content,
      timestamp: isoNow(),
      edited_timestamp: null,
      tts: Boolean(input.body.tts),
      mention_everyone: false,
      mentions: this.mentionedUsers(content),
      mention_roles: [...content.matchAll(/<@&(\d+)>/g)].map((m) => m[1]),
      attachments,
      embeds: resolveEmbeds((input.body.embeds as APIEmbed[] | undefined) ?? [], attachments),
      components: (input.body.components as unknown[] | undefined) ?? [],
      pinned: false,
      type: input.type ?? (referenced ? MessageType.Reply : MessageType.Default),
      flags,
      ...(input.body.nonce != null ? { nonce: input.body.nonce } : {}),
      ...(referenced
        ? {
            message_reference: {
              type: 0,
              message_id: referenced.message.id,
              channel_id: channel.id,
              ...(guildId ? { guild_id: guildId } : {}),
            },
            referenced_message: { ...referenced.message, referenced_message: undefined },
          }
        : {}),
      ...(interaction
        ? {
            webhook_id: this.applicationId,
            application_id: this.applicationId,
            interaction_metadata: {
              id: interaction.id,
              type: (interaction.payload.type as number | undefined) ?? 2,
              user: (interaction.payload.member as { user: APIUser } | undefined)?.user ?? interaction.payload.user,
              authorizing_integration_owners: interaction.payload.authorizing_integration_owners,
            },
          }
        : {}),
    } as unknown as APIMessage;
    const stored: StoredMessage = { message, files, deleted: false, reactions: [], interactionId: interaction?.id };
    this.messages.set(message.id, stored);
    channel.last_message_id = message.id;
    // Discord echoes every visible message to the gateway, the bot's own included; ephemeral ones stay private.
    if (!(flags & MessageFlags.Ephemeral)) this.opts.dispatch('MESSAGE_CREATE', this.gatewayMessage(stored));
    return stored;
  }

  /** PATCH semantics: omitted fields are kept; `attachments` (if sent) lists which existing ones survive. */
  editMessage(stored: StoredMessage, body: Record<string, unknown>, files: StoredFile[]): StoredMessage {
    if (stored.message.author.id !== this.botUser.id) throw Errors.cannotEditOthers();
    validateMessageBody(body, files.length, { allowEmpty: true });
    this.checkUploadSize(files);
    const m = stored.message as unknown as Record<string, unknown>;
    const wasLoading = ((m.flags as number) & MessageFlags.Loading) !== 0;
    if ('content' in body) m.content = body.content ?? '';
    if ('components' in body) m.components = body.components ?? [];
    let attachments = m.attachments as APIAttachment[];
    if (Array.isArray(body.attachments)) {
      const keep = new Set((body.attachments as { id: string | number }[]).map((a) => String(a.id)));
      attachments = attachments.filter((a) => keep.has(a.id));
    }
    attachments = [...attachments, ...this.attachmentsFor(stored.message.channel_id, body, files)];
    m.attachments = attachments;
    if ('embeds' in body) m.embeds = resolveEmbeds((body.embeds as APIEmbed[] | null) ?? [], attachments);
    if ('content' in body) m.mentions = this.mentionedUsers(m.content as string);
    if (typeof body.flags === 'number') {
      // Only SUPPRESS_EMBEDS can be toggled on edit; everything else is fixed at creation.
      m.flags = ((m.flags as number) & ~MessageFlags.SuppressEmbeds) | (body.flags & MessageFlags.SuppressEmbeds);
    }
    m.flags = (m.flags as number) & ~MessageFlags.Loading; // filling in a deferred response ends "thinking..."
    if (!wasLoading) m.edited_timestamp = isoNow();
    const empty = !(m.content as string) && !(m.embeds as unknown[]).length && !attachments.length && !(m.components as unknown[]).length;
    if (empty) throw Errors.emptyMessage();
    stored.files.push(...files);
    if (!((m.flags as number) & MessageFlags.Ephemeral)) this.opts.dispatch('MESSAGE_UPDATE', this.gatewayMessage(stored));
    return stored;
  }

  deleteMessage(stored: StoredMessage): void {
    stored.deleted = true;
    const c = this.channel(stored.message.channel_id);
    this.opts.dispatch('MESSAGE_DELETE', {
      id: stored.message.id,
      channel_id: stored.message.channel_id,
      ...(c?.type === ChannelType.GuildText ? { guild_id: c.guild_id } : {}),
    });
  }

  /** Message as MESSAGE_CREATE carries it: plus guild_id and the author's member (without user). */
  gatewayMessage(stored: StoredMessage): Record<string, unknown> {
    const msg = stored.message;
    const c = this.channel(msg.channel_id);
    if (c?.type !== ChannelType.GuildText) return { ...msg, channel_type: ChannelType.DM };
    const member = this.guild.members.get(msg.author.id);
    return {
      ...msg,
      guild_id: c.guild_id,
      channel_type: ChannelType.GuildText,
      ...(member && !msg.webhook_id ? { member: this.memberPayload(member, false) } : {}),
      mentions: msg.mentions.map((u) => {
        const mm = this.guild.members.get(u.id);
        return mm ? { ...u, member: this.memberPayload(mm, false) } : u;
      }),
    };
  }

  private mentionedUsers(content: string): APIUser[] {
    const ids = new Set([...content.matchAll(/<@!?(\d+)>/g)].map((m) => m[1]!));
    return [...ids].flatMap((id) => this.users.get(id) ?? []);
  }

  /** Turn multipart `files[n]` parts into attachments, taking descriptions from `attachments[{id: n}]`. */
  private attachmentsFor(channelId: string, body: Record<string, unknown>, files: StoredFile[]): APIAttachment[] {
    const meta = Array.isArray(body.attachments)
      ? (body.attachments as { id: string | number; description?: string; filename?: string }[])
      : [];
    return files.map((f, i) => {
      const index = /\[(\d+)\]$/.exec(f.field)?.[1] ?? String(i);
      const m = meta.find((a) => String(a.id) === index);
      return this.storeAttachment(channelId, m?.filename ?? f.filename, f.bytes, f.contentType, m?.description);
    });
  }

  private checkUploadSize(files: StoredFile[]): void {
    if (files.some((f) => f.size > this.opts.uploadLimitBytes)) throw Errors.tooLarge();
  }

  // ---- reactions --------------------------------------------------------------------

  react(stored: StoredMessage, emoji: string, add: boolean): void {
    const i = stored.reactions.indexOf(emoji);
    if (add && i === -1) stored.reactions.push(emoji);
    if (!add && i !== -1) stored.reactions.splice(i, 1);
    const c = this.channel(stored.message.channel_id);
    const [name, id] = emoji.includes(':') ? emoji.split(':') : [emoji, null];
    this.opts.dispatch(add ? 'MESSAGE_REACTION_ADD' : 'MESSAGE_REACTION_REMOVE', {
      user_id: this.botUser.id,
      channel_id: stored.message.channel_id,
      message_id: stored.message.id,
      ...(c?.type === ChannelType.GuildText ? { guild_id: c.guild_id } : {}),
      emoji: { id: id ?? null, name },
      burst: false,
      type: 0,
    });
  }

  // ---- application commands ---------------------------------------------------------

  commandsFor(guildId?: string): APIApplicationCommand[] {
    if (!guildId) return this.globalCommands;
    if (guildId !== this.guild.id) throw Errors.unknownGuild();
    return this.guildCommands.get(guildId) ?? [];
  }

  /** Bulk overwrite: same name+type keeps its id (as Discord does), everything else is replaced. */
  overwriteCommands(defs: unknown, guildId?: string): APIApplicationCommand[] {
    if (!Array.isArray(defs)) throw Errors.invalidForm('_root', 'Must be an array.', 'BASE_TYPE_ARRAY');
    const previous = this.commandsFor(guildId);
    const seen = new Set<string>();
    const next = defs.map((def: Record<string, unknown>, i) => {
      validateCommand(def, String(i));
      const type = (def.type as number | undefined) ?? 1;
      const key = `${type}:${def.name as string}`;
      if (seen.has(key))
        throw Errors.invalidForm(`${i}.name`, 'Application command names must be unique', 'APPLICATION_COMMANDS_DUPLICATE_NAME');
      seen.add(key);
      const old = previous.find((c) => c.name === def.name && (c.type as number) === type); // discord.js's enum against the wire number
      return this.commandPayload(def, old?.id, guildId);
    });
    if (guildId) this.guildCommands.set(guildId, next);
    else this.globalCommands.splice(0, this.globalCommands.length, ...next);
    return next;
  }

  upsertCommand(def: Record<string, unknown>, guildId?: string): APIApplicationCommand {
    validateCommand(def, '');
    const list = this.commandsFor(guildId);
    const type = (def.type as number | undefined) ?? 1;
    const old = list.find((c) => c.name === def.name && (c.type as number) === type);
    const cmd = this.commandPayload(def, old?.id, guildId);
    const next = [...list.filter((c) => c !== old), cmd];
    if (guildId) this.guildCommands.set(guildId, next);
    else this.globalCommands.splice(0, this.globalCommands.length, ...next);
    return cmd;
  }

  deleteCommand(id: string, guildId?: string): void {
    const list = this.commandsFor(guildId);
    const i = list.findIndex((c) => c.id === id);
    if (i === -1) throw Errors.unknownCommand();
    list.splice(i, 1);
  }

  private commandPayload(def: Record<string, unknown>, id: string | undefined, guildId?: string): APIApplicationCommand {
    return {
      id: id ?? snowflake(),
      application_id: this.applicationId,
      version: snowflake(),
      type: 1,
      description: '',
      default_member_permissions: null,
      nsfw: false,
      ...(guildId ? { guild_id: guildId } : { contexts: null, integration_types: [0] }),
      ...def,
    } as APIApplicationCommand;
  }

  findCommand(name: string, guildId: string | null): APIApplicationCommand | undefined {
    const isChatInput = (c: APIApplicationCommand) => c.name === name && (c.type as number) === 1; // 1: a slash command
    const inGuild = guildId ? this.guildCommands.get(guildId)?.find(isChatInput) : undefined;
    return inGuild ?? this.globalCommands.find(isChatInput);
  }

  // ---- interactions -----------------------------------------------------------------

  interactionByToken(appId: string, token: string): InteractionState {
    const i = this.interactionsByToken.get(token);
    if (!i || appId !== this.applicationId) throw Errors.unknownWebhook();
    return i;
  }

  /** Discord forgets an interaction whose initial response did not arrive within 3 s. */
  checkDeadline(i: InteractionState): void {
    const deadline = this.opts.interactionDeadlineMs;
    if (i.acknowledged === null && deadline > 0 && Date.now() - i.createdAt > deadline) throw Errors.unknownInteraction();
  }
}

function guessContentType(name: string): string {
  const ext = name.toLowerCase().split('.').pop();
  const types: Record<string, string> = {
    png: 'image/png',
    jpg: 'image/jpeg',
    jpeg: 'image/jpeg',
    gif: 'image/gif',
    webp: 'image/webp',
    txt: 'text/plain; charset=utf-8',
    json: 'application/json; charset=utf-8',
  };
  return types[ext ?? ''] ?? 'application/octet-stream';
}

/** Embeds come back with `type: 'rich'` and `attachment://name` references swapped for the CDN url. */
function resolveEmbeds(embeds: APIEmbed[], attachments: APIAttachment[]): APIEmbed[] {
  const resolve = <T extends { url?: string }>(media: T | undefined): T | undefined => {
    const name = media?.url?.startsWith('attachment://') ? media.url.slice('attachment://'.length) : null;
    const att = name ? attachments.find((a) => a.filename === name) : undefined;
    if (!media || !att) return media;
    return { ...media, url: att.url, proxy_url: att.proxy_url, width: att.width, height: att.height, content_type: att.content_type };
  };
  return embeds.map((e) => {
    const out: APIEmbed = { type: 'rich' as APIEmbed['type'], ...e };
    if (e.image) out.image = resolve(e.image);
    if (e.thumbnail) out.thumbnail = resolve(e.thumbnail);
    const authorIcon = e.author?.icon_url;
    if (e.author && authorIcon?.startsWith('attachment://')) {
      const att = attachments.find((a) => a.filename === authorIcon.slice(13));
      if (att) out.author = { ...e.author, icon_url: att.url, proxy_icon_url: att.proxy_url };
    }
    const footerIcon = e.footer?.icon_url;
    if (e.footer && footerIcon?.startsWith('attachment://')) {
      const att = attachments.find((a) => a.filename === footerIcon.slice(13));
      if (att) out.footer = { ...e.footer, icon_url: att.url, proxy_icon_url: att.proxy_url };
    }
    return out;
  });
}

const NAME_RE = /^[-_'\p{L}\p{N}\p{sc=Deva}\p{sc=Thai}]{1,32}$/u;

/** The registration rules that most often bite: names, descriptions, option order and counts. */
function validateCommand(def: Record<string, unknown>, path: string): void {
  const at = (f: string) => (path ? `${path}.${f}` : f);
  const type = (def.type as number | undefined) ?? 1;
  const name = def.name;
  if (typeof name !== 'string' || !NAME_RE.test(name) || (type === 1 && name !== name.toLowerCase())) {
    throw Errors.invalidForm(at('name'), 'Command name is invalid', 'APPLICATION_COMMAND_INVALID_NAME');
  }
  if (type === 1) {
    const d = def.description;
    if (typeof d !== 'string' || d.length < 1 || d.length > 100) {
      throw Errors.invalidForm(at('description'), 'Must be between 1 and 100 in length.');
    }
  }
  validateOptions(def.options, at('options'));
}

function validateOptions(options: unknown, path: string): void {
  if (options == null) return;
  if (!Array.isArray(options)) throw Errors.invalidForm(path, 'Must be an array.', 'BASE_TYPE_ARRAY');
  if (options.length > 25) throw Errors.invalidForm(path, 'Must be 25 or fewer in length.', 'BASE_TYPE_MAX_LENGTH');
  let sawOptional = false;
  const names = new Set<string>();
  options.forEach((o: Record<string, unknown>, i) => {
    const at = `${path}.${i}`;
    if (typeof o.name !== 'string' || !NAME_RE.test(o.name) || o.name !== o.name.toLowerCase()) {
      throw Errors.invalidForm(`${at}.name`, 'Command name is invalid', 'APPLICATION_COMMAND_INVALID_NAME');
    }
    if (names.has(o.name))
      throw Errors.invalidForm(`${at}.name`, 'Option names must be unique', 'APPLICATION_COMMAND_OPTIONS_NAME_ALREADY_EXISTS');
    names.add(o.name);
    if (typeof o.description !== 'string' || o.description.length < 1 || o.description.length > 100) {
      throw Errors.invalidForm(`${at}.description`, 'Must be between 1 and 100 in length.');
    }
    if (o.required) {
      if (sawOptional)
        throw Errors.invalidForm(
          `${at}.required`,
          'Required options must be placed before non-required options',
          'APPLICATION_COMMAND_OPTIONS_REQUIRED_INVALID',
        );
    } else sawOptional = true;
    if (Array.isArray(o.choices) && o.choices.length > 25)
      throw Errors.invalidForm(`${at}.choices`, 'Must be 25 or fewer in length.', 'BASE_TYPE_MAX_LENGTH');
    if (o.autocomplete && Array.isArray(o.choices) && o.choices.length)
      throw Errors.invalidForm(
        `${at}.autocomplete`,
        'Autocomplete cannot be set if choices are present',
        'APPLICATION_COMMAND_OPTIONS_AUTOCOMPLETE_INVALID',
      );
    if (o.autocomplete && ![OptionType.String, OptionType.Integer, OptionType.Number].includes(o.type as 3))
      throw Errors.invalidForm(
        `${at}.autocomplete`,
        'Autocomplete is only for string, integer and number options',
        'APPLICATION_COMMAND_OPTIONS_AUTOCOMPLETE_INVALID',
      );
    if (o.type === OptionType.Subcommand || o.type === OptionType.SubcommandGroup) validateOptions(o.options, `${at}.options`);
  });
}

export { ApiError };
