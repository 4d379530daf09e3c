// The Discord adapter: one client, the message listener, command dispatch,
// and a shutdown that lets in-flight replies finish.
import {
  Events,
  type AutocompleteInteraction,
  type ChatInputCommandInteraction,
  type Client,
  type Interaction,
  type MessageComponentInteraction,
} from 'discord.js';
import { commandByName } from '../../commands/index.ts';
import { UserFacingError } from '../errors.ts';
import type { BotContext } from './context.ts';
import { handleFeedback } from './feedback.ts';
import { FORGET_PREFIX, handleForget } from './forget.ts';
import { onMessage } from './messageListener.ts';
import { EPHEMERAL } from './replies.ts';
import { handleReview } from './review.ts';
import { REVIEW_PREFIX } from './reviewRender.ts';

export class BloomBot {
  private readonly inflight = new Set<Promise<unknown>>();
  private stopping = false;
  readonly ctx: BotContext;

  constructor(
    readonly client: Client,
    ctx: Omit<BotContext, 'track' | 'draining'>,
  ) {
    this.ctx = { ...ctx, track: (p) => this.track(p), draining: () => this.stopping };
    client.on(
      Events.MessageCreate,
      (m) => void this.track(onMessage(this.ctx, m)).catch((err) => ctx.log.error({ err }, 'message handler failed')),
    );
    client.on(Events.InteractionCreate, (i) => void this.track(this.onInteraction(i)));
    client.on(Events.Error, (err) => ctx.log.error({ err }, 'discord client error'));
    client.on(Events.ShardDisconnect, (_e, id) => ctx.log.warn({ shard: id }, 'gateway disconnected'));
    client.on(Events.ShardResume, (id) => ctx.log.info({ shard: id }, 'gateway resumed'));
  }

  get inFlight(): number {
    return this.inflight.size;
  }

  private track<T>(p: Promise<T>): Promise<T> {
    this.inflight.add(p);
    void p.finally(() => this.inflight.delete(p)).catch(() => undefined);
    return p;
  }

  private async onInteraction(i: Interaction): Promise<void> {
    if (i.isAutocomplete()) return this.onAutocomplete(i);
    // Components are routed by their custom_id's prefix: review, forget, a command's own buttons
    // ("<command>:…"); everything else is feedback, which answers unknown ids too.
    if ((i.isMessageComponent() || i.isModalSubmit()) && i.customId.startsWith(REVIEW_PREFIX)) return handleReview(i, this.ctx);
    if (i.isMessageComponent() && i.customId.startsWith(FORGET_PREFIX)) return handleForget(i, this.ctx);
    const owner = i.isMessageComponent() ? commandByName.get(i.customId.split(':')[0]!) : undefined;
    if (i.isMessageComponent() && owner?.component) return this.run(i, i.customId, () => owner.component!(i, this.ctx));
    if (i.isMessageComponent() || i.isModalSubmit()) return handleFeedback(i, this.ctx);
    if (!i.isChatInputCommand()) return;
    const cmd = commandByName.get(i.commandName);
    if (!cmd) return;
    return this.run(i, i.commandName, () => cmd.execute(i, this.ctx));
  }

  /** Suggestions as a member types; a failure answers with none rather than leaving the list spinning. */
  private async onAutocomplete(i: AutocompleteInteraction): Promise<void> {
    const cmd = commandByName.get(i.commandName);
    try {
      if (cmd?.autocomplete) await cmd.autocomplete(i, this.ctx);
      else await i.respond([]);
    } catch (err) {
      this.ctx.log.warn({ err, command: i.commandName, interactionId: i.id }, 'autocomplete failed');
      if (!i.responded) await i.respond([]).catch(() => undefined);
    }
  }

  private async run(i: ChatInputCommandInteraction | MessageComponentInteraction, what: string, fn: () => Promise<void>): Promise<void> {
    try {
      await fn();
    } catch (err) {
      // A user-facing error is the answer; anything else is ours: a generic message and a log line.
      const shown = err instanceof UserFacingError;
      if (!shown) this.ctx.log.error({ err, command: what, interactionId: i.id }, 'command failed');
      const content = shown ? err.userMessage : 'Something went wrong on my side. Please try again in a moment.';
      await (i.deferred || i.replied ? i.followUp({ content, flags: EPHEMERAL }) : i.reply({ content, flags: EPHEMERAL })).catch(
        () => undefined,
      );
    }
  }

  async start(token: string): Promise<void> {
    const ready = new Promise<void>((resolve) => this.client.once(Events.ClientReady, () => resolve()));
    await this.client.login(token);
    await ready;
    this.ctx.log.info({ user: this.client.user?.tag, guilds: this.client.guilds.cache.size }, 'bot is online');
  }

  /** Stop taking new work, let in-flight replies finish, then disconnect. */
  async stop(timeoutMs = 30_000): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    const deadline = Date.now() + timeoutMs;
    while (this.inflight.size > 0 && Date.now() < deadline) {
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([Promise.allSettled([...this.inflight]), new Promise((r) => (timer = setTimeout(r, deadline - Date.now())))]);
      clearTimeout(timer);
    }
    if (this.inflight.size) this.ctx.log.warn({ pending: this.inflight.size }, 'shutdown timeout: some work did not finish');
    await this.client.destroy();
  }
}
