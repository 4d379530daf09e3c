/**
 * Builds MESSAGE_COMPONENT (type 3) and MODAL_SUBMIT (type 5) interactions the way
 * Discord sends them when a member clicks a button, picks from a select menu or
 * submits a modal. What a member could not do in the real client (click a button
 * that is not on the message, pick an option that is not offered, use someone
 * else's ephemeral message, submit a modal nobody opened) throws, unless `forge`
 * is set: Discord itself delivers any custom_id it is given, and the bot must
 * still answer within 3 s (see Emulator.interactionStatus).
 */
import type { APIMessage, APIUser } from 'discord.js';
import { InteractionCallbackType, MessageFlags } from './payloads.ts';
import { registerInteraction } from './interactions.ts';
import type { InteractionState, World } from './world.ts';

export interface ComponentClick {
  /** The message carrying the component (or its id). */
  message: APIMessage | string;
  customId: string;
  /** Who clicks; defaults to the normal member. */
  user?: APIUser;
  /** Chosen option values, for a select menu. */
  values?: string[];
  /** Deliver it even if the component is not on the message (a stale or made-up custom_id). */
  forge?: boolean;
}

export interface ModalSubmission {
  /** The interaction the bot answered with the modal (callback type 9). */
  interactionId: string;
  /** Text input custom_id → value. */
  fields: Record<string, string>;
  user?: APIUser;
  forge?: boolean;
}

type AnyComponent = {
  type: number;
  custom_id?: string;
  disabled?: boolean;
  options?: { value: string }[];
  min_values?: number;
  max_values?: number;
  components?: AnyComponent[];
  component?: AnyComponent;
};

function findComponent(rows: AnyComponent[] | undefined, customId: string): AnyComponent | undefined {
  for (const c of rows ?? []) {
    if (c.custom_id === customId) return c;
    const inner = findComponent([...(c.components ?? []), ...(c.component ? [c.component] : [])], customId);
    if (inner) return inner;
  }
  return undefined;
}

export function buildComponentInteraction(world: World, opts: ComponentClick, uploadLimitBytes: number): InteractionState {
  const id = typeof opts.message === 'string' ? opts.message : opts.message.id;
  const stored = world.messages.get(id);
  if (!stored || stored.deleted) throw new Error(`emulator: message ${id} does not exist (any more)`);
  const message = stored.message;
  const user = opts.user ?? world.member;
  const flags = message.flags ?? 0;
  if (flags & MessageFlags.Ephemeral) {
    const owner = (message as { interaction_metadata?: { user?: APIUser } }).interaction_metadata?.user?.id;
    if (owner !== user.id && !opts.forge) throw new Error(`emulator: ${user.username} cannot see someone else's ephemeral message`);
  }
  const rows: unknown = message.components;
  const component = findComponent(rows as AnyComponent[] | undefined, opts.customId);
  let componentType = opts.values ? 3 : 2;
  if (!opts.forge) {
    if (!component) throw new Error(`emulator: message ${id} has no component "${opts.customId}" (a member could not click it)`);
    if (component.disabled) throw new Error(`emulator: component "${opts.customId}" is disabled`);
    componentType = component.type;
    if (component.type === 3) {
      const values = opts.values ?? [];
      const offered = new Set(component.options?.map((o) => o.value));
      const bad = values.find((v) => !offered.has(v));
      if (bad !== undefined) throw new Error(`emulator: select "${opts.customId}" offers no option "${bad}"`);
      if (values.length < (component.min_values ?? 1) || values.length > (component.max_values ?? 1)) {
        throw new Error(
          `emulator: select "${opts.customId}" takes ${component.min_values ?? 1}–${component.max_values ?? 1} values, got ${values.length}`,
        );
      }
    } else if (component.type !== 2) throw new Error(`emulator: component "${opts.customId}" (type ${component.type}) cannot be clicked`);
    else if (opts.values) throw new Error(`emulator: "${opts.customId}" is a button, not a select menu`);
  }
  const data = { custom_id: opts.customId, component_type: componentType, ...(componentType === 3 ? { values: opts.values ?? [] } : {}) };
  return registerInteraction(world, { type: 3, data, channelId: message.channel_id, user, message }, uploadLimitBytes);
}

export function buildModalSubmit(world: World, opts: ModalSubmission, uploadLimitBytes: number): InteractionState {
  const opener = world.interactions.get(opts.interactionId);
  if (!opener) throw new Error(`emulator: no interaction ${opts.interactionId}`);
  const opened = opener.responses.find((r) => r.kind === 'callback' && r.callbackType === InteractionCallbackType.Modal)?.body as
    { data?: { custom_id: string; components: AnyComponent[] } } | undefined;
  const modal = opened?.data;
  if (!modal && !opts.forge) throw new Error(`emulator: interaction ${opts.interactionId} was not answered with a modal`);
  const openerUser = ((opener.payload.member as { user?: APIUser } | undefined)?.user ?? opener.payload.user) as APIUser;
  const user = opts.user ?? openerUser;
  if (user.id !== openerUser.id && !opts.forge) throw new Error('emulator: only the member who opened a modal can submit it');
  const inputs: AnyComponent[] = [];
  const collect = (cs: AnyComponent[] | undefined) => {
    for (const c of cs ?? []) {
      if (c.type === 4) inputs.push(c);
      collect([...(c.components ?? []), ...(c.component ? [c.component] : [])]);
    }
  };
  collect(modal?.components);
  if (!opts.forge) {
    for (const name of Object.keys(opts.fields)) {
      if (!inputs.some((c) => c.custom_id === name)) throw new Error(`emulator: the modal has no text input "${name}"`);
    }
    for (const c of inputs as (AnyComponent & { required?: boolean; min_length?: number; max_length?: number })[]) {
      const v = opts.fields[c.custom_id!] ?? '';
      if ((c.required ?? true) && !v) throw new Error(`emulator: text input "${c.custom_id}" is required`);
      if (v && ((c.min_length !== undefined && v.length < c.min_length) || (c.max_length !== undefined && v.length > c.max_length))) {
        throw new Error(`emulator: text input "${c.custom_id}" must be ${c.min_length ?? 0}–${c.max_length ?? 4000} characters`);
      }
    }
  }
  const names = inputs.length ? inputs.map((c) => c.custom_id!) : Object.keys(opts.fields);
  const data = {
    custom_id: modal?.custom_id ?? '',
    components: names.map((name) => ({ type: 1, components: [{ type: 4, custom_id: name, value: opts.fields[name] ?? '' }] })),
  };
  // A modal opened from a component carries that component's message, as on Discord.
  const message = opener.payload.type === 3 ? (opener.payload.message as APIMessage) : undefined;
  const fresh = message ? world.messages.get(message.id)?.message : undefined;
  return registerInteraction(world, { type: 5, data, channelId: opener.channelId, user, message: fresh ?? message }, uploadLimitBytes);
}
