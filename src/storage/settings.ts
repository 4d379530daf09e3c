import type { Db } from './db.ts';

/** Per-guild settings: watched channels, and a small JSON key/value store (e.g. confidence threshold). */
export function settingsQueries(db: Db) {
  const addChannel = db.prepare<[string, string, string]>(
    `INSERT INTO watched_channels (guild_id, channel_id, added_at) VALUES (?, ?, ?) ON CONFLICT DO NOTHING`,
  );
  const removeChannel = db.prepare<[string, string]>(`DELETE FROM watched_channels WHERE guild_id = ? AND channel_id = ?`);
  const listChannels = db
    .prepare<[string], string>(`SELECT channel_id FROM watched_channels WHERE guild_id = ? ORDER BY channel_id`)
    .pluck();
  const isWatched = db.prepare<[string, string], number>(`SELECT 1 FROM watched_channels WHERE guild_id = ? AND channel_id = ?`).pluck();
  const getValue = db.prepare<[string, string], string>(`SELECT value FROM guild_settings WHERE guild_id = ? AND key = ?`).pluck();
  const allValues = db.prepare<[string], { key: string; value: string }>(
    `SELECT key, value FROM guild_settings WHERE guild_id = ? ORDER BY key`,
  );
  const setValue = db.prepare<[string, string, string, string]>(`
    INSERT INTO guild_settings (guild_id, key, value, updated_at) VALUES (?, ?, ?, ?)
    ON CONFLICT (guild_id, key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at`);
  const deleteValue = db.prepare<[string, string]>(`DELETE FROM guild_settings WHERE guild_id = ? AND key = ?`);

  return {
    /** True when newly added. */
    addWatchedChannel: (guildId: string, channelId: string): boolean =>
      addChannel.run(guildId, channelId, new Date().toISOString()).changes > 0,
    /** True when it was being watched. */
    removeWatchedChannel: (guildId: string, channelId: string): boolean => removeChannel.run(guildId, channelId).changes > 0,
    listWatchedChannels: (guildId: string): string[] => listChannels.all(guildId),
    isWatched: (guildId: string, channelId: string): boolean => isWatched.get(guildId, channelId) !== undefined,

    /** The stored JSON value, or undefined. Typed `unknown` on purpose: validate at the call site. */
    getGuildSetting: (guildId: string, key: string): unknown => {
      const value = getValue.get(guildId, key);
      return value === undefined ? undefined : JSON.parse(value);
    },
    guildSettings: (guildId: string): Record<string, unknown> =>
      Object.fromEntries(allValues.all(guildId).map((r) => [r.key, JSON.parse(r.value)])),
    /** Stores any JSON-serialisable value. */
    setGuildSetting: (guildId: string, key: string, value: unknown): void => {
      const json = JSON.stringify(value);
      if (json === undefined) throw new TypeError(`setting '${key}' is not JSON-serialisable`);
      setValue.run(guildId, key, json, new Date().toISOString());
    },
    deleteGuildSetting: (guildId: string, key: string): boolean => deleteValue.run(guildId, key).changes > 0,
  };
}
