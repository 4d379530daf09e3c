/**
 * Builds APPLICATION_COMMAND interaction payloads the way Discord sends them.
 * When the command has been registered (PUT .../commands), its definition
 * decides option types and the invocation is checked against it, so a test
 * cannot invoke something the real client UI would never let a user send.
 */
import { randomBytes } from 'node:crypto';
import type { APIApplicationCommandOption, APIAttachment, APIMessage, APIUser } from 'discord.js';
import { ChannelType, OptionType, snowflake } from './payloads.ts';
import type { InteractionState, World } from './world.ts';

/** A file to attach to an option; stored on the emulator CDN first. */
export interface UploadSpec {
  name: string;
  bytes: Buffer;
  contentType?: string;
}

/** Plain values are typed from the registered definition, else inferred (string 3, integer 4, number 10, boolean 5). */
export type CommandOptionValue =
  string | number | boolean | APIAttachment | UploadSpec | { type: number; value: string | number | boolean };

export interface InvokeCommandOptions {
  name: string;
  /** Who runs the command; defaults to the normal member. `author` is an alias. */
  user?: APIUser;
  author?: APIUser;
  /** Channel it is run in; defaults to #general. */
  channelId?: string;
  /** Run it in the user's DM with the bot instead. */
  dm?: boolean;
  options?: Record<string, CommandOptionValue>;
  subcommand?: string;
  subcommandGroup?: string;
  locale?: string;
  /**
   * Send the payload even where Discord itself would refuse the interaction (a value
   * outside the registered min/max): for tests of handlers that must not trust Discord.
   */
  forge?: boolean;
}

/**
 * A member typing into an option that has `autocomplete: true`: Discord sends an
 * APPLICATION_COMMAND_AUTOCOMPLETE (type 4) interaction carrying what is filled in so far,
 * the option being typed into marked `focused`, and the bot answers with callback type 8.
 */
export interface AutocompleteOptions extends Omit<InvokeCommandOptions, 'options'> {
  /** The option being typed into. */
  focused: string;
  /** What is typed there so far (sent as a string, as Discord does). */
  typed: string;
  /** Other options already filled in. */
  options?: Record<string, CommandOptionValue>;
}
const isAttachment = (v: unknown): v is APIAttachment => typeof v === 'object' && v !== null && 'url' in v && 'filename' in v && 'id' in v;
const isUpload = (v: unknown): v is UploadSpec => typeof v === 'object' && v !== null && 'bytes' in v && 'name' in v;

const TYPE_NAMES: Record<number, string> = {
  3: 'string',
  4: 'integer',
  5: 'boolean',
  6: 'user',
  7: 'channel',
  8: 'role',
  9: 'mentionable',
  10: 'number',
  11: 'attachment',
};

export function buildCommandInteraction(world: World, opts: InvokeCommandOptions, uploadLimitBytes: number): InteractionState {
  return buildCommandPayload(world, opts, uploadLimitBytes);
}

/** The type-4 interaction of a member typing `typed` into option `focused` (refused if it does not autocomplete). */
export function buildAutocompleteInteraction(world: World, opts: AutocompleteOptions, uploadLimitBytes: number): InteractionState {
  const { focused, typed, ...rest } = opts;
  return buildCommandPayload(world, { ...rest, options: { ...opts.options, [focused]: typed } }, uploadLimitBytes, focused);
}

function buildCommandPayload(world: World, opts: InvokeCommandOptions, uploadLimitBytes: number, focused?: string): InteractionState {
  const user = opts.user ?? opts.author ?? world.member;
  const channel = opts.dm ? world.dmChannelFor(user) : world.requireChannel(opts.channelId ?? world.guild.channels[0]!.id);
  const guildId = channel.type === ChannelType.GuildText ? channel.guild_id : null;
  const member = guildId ? world.guild.members.get(user.id) : undefined;
  if (guildId && !member) throw new Error(`emulator: ${user.username} is not a member of the guild`);

  const command = world.findCommand(opts.name, guildId);
  const where = `/${[opts.name, opts.subcommandGroup, opts.subcommand].filter(Boolean).join(' ')}`;
  let defs: APIApplicationCommandOption[] | undefined = command?.options;
  for (const [sub, type] of [
    [opts.subcommandGroup, OptionType.SubcommandGroup],
    [opts.subcommand, OptionType.Subcommand],
  ] as const) {
    if (!sub || !command) continue;
    const def = defs?.find((o) => o.name === sub && (o.type as number) === type); // discord.js's enum against our wire number
    if (!def) throw new Error(`emulator: ${where}: "${sub}" is not a registered subcommand (group)`);
    defs = 'options' in def ? def.options : undefined;
  }

  const resolved: Record<string, Record<string, unknown>> = {};
  const addResolved = (kind: string, id: string, value: unknown) => ((resolved[kind] ??= {})[id] = value);
  const given = opts.options ?? {};
  if (command) {
    for (const name of Object.keys(given)) {
      if (!defs?.some((d) => d.name === name)) throw new Error(`emulator: ${where} has no option "${name}"`);
    }
    // While a member types, the options not filled in yet are simply absent.
    for (const d of focused === undefined ? (defs ?? []) : []) {
      if ('required' in d && d.required && !(d.name in given)) throw new Error(`emulator: ${where} requires option "${d.name}"`);
    }
    const def = focused === undefined ? undefined : defs?.find((d) => d.name === focused);
    if (focused !== undefined && !opts.forge && !(def && 'autocomplete' in def && def.autocomplete)) {
      throw new Error(`emulator: ${where} option "${focused}" does not autocomplete, so Discord sends nothing while typing`);
    }
  }

  const leaf = Object.entries(given).map(([name, value]) => {
    const def = defs?.find((d) => d.name === name);
    const defType: number | undefined = def?.type; // the wire number, compared with OptionType's
    // The option being typed into carries the raw text, whatever its type.
    if (name === focused) return { name, type: defType ?? OptionType.String, value: value as string, focused: true };
    let type: number;
    let v: string | number | boolean;
    if (isUpload(value) || isAttachment(value)) {
      const att = isUpload(value) ? world.storeAttachment(channel.id, value.name, value.bytes, value.contentType) : value;
      addResolved('attachments', att.id, att);
      type = OptionType.Attachment;
      v = att.id;
    } else if (typeof value === 'object') {
      type = value.type;
      v = value.value;
    } else {
      v = value;
      type =
        typeof value === 'boolean'
          ? OptionType.Boolean
          : typeof value === 'number'
            ? defType === OptionType.Number || !Number.isInteger(value)
              ? OptionType.Number
              : OptionType.Integer
            : def && [OptionType.User, OptionType.Channel, OptionType.Role, OptionType.Mentionable].includes(def.type as 6)
              ? def.type
              : OptionType.String;
    }
    if (def && !opts.forge && defType !== type && !(defType === OptionType.Number && type === OptionType.Integer)) {
      throw new Error(`emulator: ${where} option "${name}" is a ${TYPE_NAMES[def.type]}, got a ${TYPE_NAMES[type]}`);
    }
    if (defType === OptionType.Number) type = OptionType.Number;
    // Discord's client and API refuse values outside the registered limits; only a forged payload gets through.
    if (def && !opts.forge && typeof v === 'number' && (type === OptionType.Integer || type === OptionType.Number)) {
      const { min_value: min, max_value: max } = def as { min_value?: number; max_value?: number };
      if ((min !== undefined && v < min) || (max !== undefined && v > max)) {
        throw new Error(
          `emulator: ${where} option "${name}" must be between ${min ?? '-∞'} and ${max ?? '∞'} (got ${v}); Discord would refuse this interaction`,
        );
      }
    }
    if (type === OptionType.User || type === OptionType.Mentionable) {
      const u = world.users.get(String(v));
      if (u) {
        addResolved('users', u.id, u);
        const m = world.guild.members.get(u.id);
        if (guildId && m)
          addResolved('members', u.id, { ...world.memberPayload(m, false), permissions: world.permissionsOf(u.id).toString() });
      }
    }
    if (type === OptionType.Channel) {
      const c = world.channel(String(v));
      if (c)
        addResolved('channels', c.id, {
          id: c.id,
          type: c.type,
          name: 'name' in c ? c.name : undefined,
          permissions: world.permissionsOf(user.id).toString(),
        });
    }
    if (type === OptionType.Role || type === OptionType.Mentionable) {
      const r = world.guild.roles.find((role) => role.id === String(v));
      if (r) addResolved('roles', r.id, r);
    }
    return { name, type, value: v };
  });

  let options: unknown[] = leaf;
  if (opts.subcommand) options = [{ name: opts.subcommand, type: OptionType.Subcommand, options }];
  if (opts.subcommandGroup) options = [{ name: opts.subcommandGroup, type: OptionType.SubcommandGroup, options }];

  const data = {
    id: command?.id ?? snowflake(),
    name: opts.name,
    type: 1,
    ...(options.length ? { options } : {}),
    ...(Object.keys(resolved).length ? { resolved } : {}),
    ...(command?.guild_id ? { guild_id: command.guild_id } : {}),
  };
  const type = focused === undefined ? 2 : 4;
  return registerInteraction(world, { type, data, channelId: channel.id, user, locale: opts.locale }, uploadLimitBytes);
}

/** Records an interaction of any type from `user` in a channel and builds the payload Discord would send. */
export function registerInteraction(
  world: World,
  base: { type: number; data: Record<string, unknown>; channelId: string; user: APIUser; message?: APIMessage; locale?: string },
  uploadLimitBytes: number,
): InteractionState {
  const channel = world.requireChannel(base.channelId);
  const guildId = channel.type === ChannelType.GuildText ? channel.guild_id : null;
  const member = guildId ? world.guild.members.get(base.user.id) : undefined;
  if (guildId && !member) throw new Error(`emulator: ${base.user.username} is not a member of the guild`);
  const id = snowflake();
  const token = `aW50ZXJhY3Rpb246${id}:${randomBytes(48).toString('base64url')}`;
  const perms = world.permissionsOf(base.user.id).toString();
  const payload: Record<string, unknown> = {
    id,
    application_id: world.applicationId,
    type: base.type,
    token,
    version: 1,
    data: base.data,
    ...(base.message ? { message: structuredClone(base.message) } : {}),
    channel_id: channel.id,
    channel: guildId ? { ...world.channelPayload(channel), permissions: perms } : world.channelPayload(channel),
    ...(guildId && member
      ? {
          guild_id: guildId,
          guild: { id: guildId, locale: 'en-US', features: [] },
          guild_locale: 'en-US',
          member: { ...world.memberPayload(member), permissions: perms },
        }
      : { user: base.user }),
    app_permissions: world.permissionsOf(world.botUser.id).toString(),
    locale: base.locale ?? 'en-US',
    entitlements: [],
    authorizing_integration_owners: { '0': guildId ?? '0' },
    context: guildId ? 0 : 1,
    attachment_size_limit: uploadLimitBytes,
  };
  const state: InteractionState = {
    id,
    token,
    payload,
    channelId: channel.id,
    guildId,
    createdAt: Date.now(),
    acknowledged: null,
    originalId: null,
    responses: [],
  };
  world.interactions.set(id, state);
  world.interactionsByToken.set(token, state);
  return state;
}
