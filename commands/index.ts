import { identify } from './identify.ts';
import { retrain } from './retrain.ts';
import { settings } from './settings.ts';
import { stats } from './stats.ts';
import type { Command } from './types.ts';

export const COMMANDS: Command[] = [identify, retrain, settings, stats];
export const commandByName = new Map(COMMANDS.map((c) => [c.data.name, c]));
export type { Command };
