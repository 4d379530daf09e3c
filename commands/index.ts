import { forget } from './forget.ts';
import { identify } from './identify.ts';
import { model } from './model.ts';
import { retrain } from './retrain.ts';
import { review } from './review.ts';
import { settings } from './settings.ts';
import { species } from './species.ts';
import { stats } from './stats.ts';
import type { Command } from './types.ts';

export const COMMANDS: Command[] = [identify, species, retrain, model, settings, stats, review, forget];
export const commandByName = new Map(COMMANDS.map((c) => [c.data.name, c]));
export type { Command };
