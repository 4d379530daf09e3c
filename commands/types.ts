import type {
  AutocompleteInteraction,
  ChatInputCommandInteraction,
  MessageComponentInteraction,
  RESTPostAPIChatInputApplicationCommandsJSONBody,
} from 'discord.js';
import type { BotContext } from '../src/bot/context.ts';

/** One slash command: its definition and a small handler (the discord.js guide's shape). */
export interface Command {
  data: { name: string; toJSON(): RESTPostAPIChatInputApplicationCommandsJSONBody };
  execute(i: ChatInputCommandInteraction, ctx: BotContext): Promise<void>;
  /** Suggestions while a member types into one of its options marked `autocomplete` (answer within 3 s). */
  autocomplete?(i: AutocompleteInteraction, ctx: BotContext): Promise<void>;
  /** Buttons and menus on its own replies: custom_ids starting with `<command name>:` come here. */
  component?(i: MessageComponentInteraction, ctx: BotContext): Promise<void>;
}
