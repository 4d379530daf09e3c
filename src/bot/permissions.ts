import { PermissionFlagsBits, type PermissionsBitField } from 'discord.js';

/**
 * Admin = Administrator or Manage Server in this guild, or a configured owner.
 * Checked in the handler too: default_member_permissions only hides the
 * command in the client, a crafted request can still invoke it.
 */
export function isBotAdmin(userId: string, perms: Readonly<PermissionsBitField> | null | undefined, ownerIds: readonly string[]): boolean {
  if (ownerIds.includes(userId)) return true;
  return !!perms && (perms.has(PermissionFlagsBits.Administrator) || perms.has(PermissionFlagsBits.ManageGuild));
}
