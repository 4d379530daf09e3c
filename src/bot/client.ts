import { Client, GatewayIntentBits, Partials, type ClientOptions } from 'discord.js';

export interface ClientSettings {
  /** REST base (…/api) for the local emulator; real Discord when absent. */
  apiUrl?: string;
}

/**
 * MessageContent is privileged: enable it in the Developer Portal (Bot → Privileged
 * Gateway Intents) or watched-channel photos arrive without attachments.
 */
export function createClient(s: ClientSettings = {}): Client {
  const opts: ClientOptions = {
    intents: [
      GatewayIntentBits.Guilds,
      GatewayIntentBits.GuildMessages,
      GatewayIntentBits.MessageContent,
      GatewayIntentBits.DirectMessages,
    ],
    partials: [Partials.Channel],
    shards: [0],
    shardCount: 1,
    allowedMentions: { parse: [], repliedUser: false },
    ...(s.apiUrl ? { rest: { api: s.apiUrl } } : {}),
  };
  return new Client(opts);
}
