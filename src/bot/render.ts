// Pure functions from results to Discord message payloads (embeds + files),
// so formatting is tested without Discord or a model. The one place a
// user-facing error becomes a reply (renderFailure).
import type { APIEmbed, APIEmbedField } from 'discord.js';
import type { Prediction } from '../classifier/ranking.ts';
import { InternalError, type UserFacingError } from '../errors.ts';
import type { Identified, IdentifyOutcome } from '../services/identifyService.ts';
import { chartPng } from './chart.ts';
import { feedbackButtons, type MessageRow } from './feedbackRender.ts';

export interface RenderedFile {
  name: string;
  data: Buffer;
}

export interface ReplyPayload {
  content?: string;
  embeds: APIEmbed[];
  files: RenderedFile[];
  /** Buttons under an answer (feedback); failures have none. */
  components?: MessageRow[];
}

/** What the reply adds to the service's result: the chart PNG and the photo's name. */
export interface ResultExtras {
  chart?: Buffer;
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
  return top
    .map((p, i) => `\`${bar(p.probability)}\` **${percent(p.probability)}** ${i === 0 ? '**' + title(p.name) + '**' : title(p.name)}`)
    .join('\n');
}

export const PHOTO_TIPS =
  'Tips: fill the frame with one flower, shoot in daylight, hold still, and send the original photo (not a screenshot or thumbnail).';

export const NAME_PROMPT = "If you know its name, tell me: it helps me learn the flowers I don't know yet.";

/** "That doesn't look like a flower": no species name anywhere, no chart, no typical photo. */
export function renderNotFlower(o: Identified, x: Omit<ResultExtras, 'chart'> = {}): ReplyPayload {
  const embed: APIEmbed = {
    color: COLOURS.unsure,
    title: "That doesn't look like a flower",
    description:
      "I only know flowers, and this photo doesn't look like one to me. If it is a flower, send a closer photo of it: one bloom filling the frame.",
    fields: [{ name: 'For a better answer', value: PHOTO_TIPS }],
    footer: { text: `model ${o.modelVersion} · ${o.backend} · ${Math.round(o.ms)} ms` },
  };
  if (o.qualityNotes.length) embed.fields!.push({ name: '📷 Photo quality', value: o.qualityNotes.join('\n') });
  if (x.imageName) embed.author = { name: x.imageName.slice(0, 256) };
  return { embeds: [embed], files: [] };
}

export function renderResult(o: Identified, x: ResultExtras = {}): ReplyPayload {
  if (o.answer === 'notFlower') return renderNotFlower(o, x);
  const best = o.top[0]!;
  const files: RenderedFile[] = [];
  const embed: APIEmbed & { fields: APIEmbedField[] } = {
    color: o.uncertain ? COLOURS.unsure : COLOURS.sure,
    title:
      o.answer === 'notSure' ? 'Not sure which flower this is' : o.uncertain ? 'Not sure — is this a flower?' : `🌸 ${title(best.name)}`,
    description: o.uncertain
      ? `My best guess is **${title(best.name)}**, but only at ${percent(best.probability)}. Here are the candidates:`
      : `I'm **${percent(best.probability)}** sure this is **${title(best.name)}**.`,
    fields: [{ name: 'Top candidates', value: topLines(o.top) }],
    footer: { text: `model ${o.modelVersion} · ${o.backend} · ${Math.round(o.ms)} ms` },
  };
  if (o.uncertain) embed.fields.push({ name: 'For a better answer', value: PHOTO_TIPS });
  // The model decided it cannot place this flower: it may be a species it does not know.
  if (o.answer === 'notSure') embed.fields.push({ name: 'Know what it is?', value: NAME_PROMPT });
  if (o.qualityNotes.length) embed.fields.push({ name: '📷 Photo quality', value: o.qualityNotes.join('\n') });
  if (x.chart) {
    files.push({ name: 'probabilities.png', data: x.chart });
    embed.image = { url: 'attachment://probabilities.png' };
  }
  if (o.typical) {
    files.push({ name: 'typical.jpg', data: o.typical.jpeg });
    embed.thumbnail = { url: 'attachment://typical.jpg' };
    embed.fields.push({
      name: o.uncertain ? 'Best guess looks like' : 'A typical one',
      value: `${title(best.name)} from the training set (thumbnail)`,
      inline: true,
    });
  }
  if (x.imageName) embed.author = { name: x.imageName.slice(0, 256) };
  // Feedback needs the logged row: an answer whose row could not be written has no buttons.
  return { embeds: [embed], files, ...(o.logId !== null && { components: feedbackButtons(o.logId) }) };
}

export function renderError(message: string, hint?: string): ReplyPayload {
  return {
    embeds: [{ color: COLOURS.error, title: "I couldn't identify that", description: hint ? `${message}\n\n${hint}` : message }],
    files: [],
  };
}

export function renderNotice(text: string): ReplyPayload {
  return { content: text, embeds: [], files: [] };
}

/** A user-facing error as a reply: the error embed; an internal error as a plain notice with its generic message. */
export function renderFailure(error: UserFacingError): ReplyPayload {
  return error instanceof InternalError ? renderNotice(error.userMessage) : renderError(error.userMessage);
}

/** A service result as a reply: the embed with its chart and typical photo, or the failure. */
export async function renderIdentify(o: IdentifyOutcome, x: Omit<ResultExtras, 'chart'> = {}): Promise<ReplyPayload> {
  if (o.kind === 'failed') return renderFailure(o.error);
  if (o.answer === 'notFlower') return renderNotFlower(o, x);
  // A chart that cannot be drawn leaves the answer without its picture, not without an answer.
  const chart = await chartPng(o.top).catch(() => undefined);
  return renderResult(o, { ...x, chart });
}
