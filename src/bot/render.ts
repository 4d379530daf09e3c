// Pure functions from results to Discord message payloads (embeds + files),
// so formatting is tested without Discord or a model.
import type { APIEmbed } from 'discord.js';
import type { Prediction } from '../classifier/ranking.ts';

export interface RenderedFile {
  name: string;
  data: Buffer;
}

export interface ReplyPayload {
  content?: string;
  embeds: APIEmbed[];
  files: RenderedFile[];
}

export interface IdentifyOutcome {
  top: Prediction[];
  modelVersion: string;
  backend: string;
  ms: number;
  /** Below the confidence threshold: answer with candidates and tips. */
  uncertain: boolean;
  qualityNotes: string[];
  chart?: Buffer;
  sample?: { name: string; data: Buffer };
  imageName?: string;
}

const COLOURS = { sure: 0x57f287, unsure: 0x99aab5, error: 0xed4245 };

export function bar(p: number, width = 10): string {
  const full = Math.round(Math.max(0, Math.min(1, p)) * width);
  return '█'.repeat(full) + '░'.repeat(width - full);
}

export const percent = (p: number) => `${(p * 100).toFixed(p >= 0.995 || p < 0.1 ? 1 : 0)}%`;

const title = (s: string) => s.replace(/\b\p{L}/gu, (c) => c.toUpperCase());

export function topLines(top: Prediction[]): string {
  return top.map((p, i) => `\`${bar(p.probability)}\` **${percent(p.probability)}** ${i === 0 ? '**' + title(p.name) + '**' : title(p.name)}`).join('\n');
}

export const PHOTO_TIPS = 'Tips: fill the frame with one flower, shoot in daylight, hold still, and send the original photo (not a screenshot or thumbnail).';

export function renderResult(o: IdentifyOutcome): ReplyPayload {
  const best = o.top[0]!;
  const files: RenderedFile[] = [];
  const embed: APIEmbed = {
    color: o.uncertain ? COLOURS.unsure : COLOURS.sure,
    title: o.uncertain ? 'Not sure — is this a flower?' : `🌸 ${title(best.name)}`,
    description: o.uncertain
      ? `My best guess is **${title(best.name)}**, but only at ${percent(best.probability)}. Here are the candidates:`
      : `I'm **${percent(best.probability)}** sure this is **${title(best.name)}**.`,
    fields: [{ name: 'Top candidates', value: topLines(o.top) }],
    footer: { text: `model ${o.modelVersion} · ${o.backend} · ${Math.round(o.ms)} ms` },
  };
  if (o.uncertain) embed.fields!.push({ name: 'For a better answer', value: PHOTO_TIPS });
  if (o.qualityNotes.length) embed.fields!.push({ name: '📷 Photo quality', value: o.qualityNotes.join('\n') });
  if (o.chart) {
    files.push({ name: 'probabilities.png', data: o.chart });
    embed.image = { url: 'attachment://probabilities.png' };
  }
  if (o.sample) {
    files.push(o.sample);
    embed.thumbnail = { url: `attachment://${o.sample.name}` };
    embed.fields!.push({ name: o.uncertain ? 'Best guess looks like' : 'A typical one', value: `${title(best.name)} from the training set (thumbnail)` , inline: true });
  }
  if (o.imageName) embed.author = { name: o.imageName.slice(0, 256) };
  return { embeds: [embed], files };
}

export function renderError(message: string, hint?: string): ReplyPayload {
  return { embeds: [{ color: COLOURS.error, title: "I couldn't identify that", description: hint ? `${message}\n\n${hint}` : message }], files: [] };
}

export function renderNotice(text: string): ReplyPayload {
  return { content: text, embeds: [], files: [] };
}
