import { REST, Routes, type RESTGetCurrentApplicationResult } from 'discord.js';
import { COMMANDS } from '../../commands/index.ts';

/** Bulk-overwrites the slash commands in one guild (instant) or globally. */
export async function registerCommands(o: {
  token: string;
  apiUrl?: string;
  applicationId?: string;
  guildId?: string;
}): Promise<{ count: number; scope: string }> {
  const rest = new REST(o.apiUrl ? { api: o.apiUrl } : {}).setToken(o.token);
  const appId = o.applicationId ?? ((await rest.get(Routes.currentApplication())) as RESTGetCurrentApplicationResult).id;
  const body = COMMANDS.map((c) => c.data.toJSON());
  const route = o.guildId ? Routes.applicationGuildCommands(appId, o.guildId) : Routes.applicationCommands(appId);
  const saved = (await rest.put(route, { body })) as unknown[];
  return { count: saved.length, scope: o.guildId ? `guild ${o.guildId}` : 'global' };
}
