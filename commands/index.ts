import { forget } from './forget.ts';
import { identify } from './identify.ts';
import { retrain } from './retrain.ts';
import { review } from './review.ts';
import { settings } from './settings.ts';
import { stats } from './stats.ts';
import type { Command } from './types.ts';

export const COMMANDS: Command[] = [identify, retrain, settings, stats, review, forget];
export const commandByName = new Map(COMMANDS.map((c) => [c.data.name, c]));
export type { Command };
