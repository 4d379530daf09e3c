// Pure pieces of /species and /model: the paged species list with its ◀ ▶ buttons,
// one species' card, and the list of model versions.
import type { APIEmbed, APIEmbedField } from 'discord.js';
import type { SpeciesDetail, SpeciesEntry } from '../services/catalogueService.ts';
import type { ModelVersion, RollbackOutcome } from '../services/modelVersions.ts';
import type { MessageRow } from './feedbackRender.ts';
import type { ReplyPayload } from './render.ts';

export const PAGE_SIZE = 25;
const COLOUR = 0x57f287;
const BUTTON = 2;
const ROW = 1;
const SECONDARY = 2;

export const title = (s: string) => s.replace(/\b\p{L}/gu, (c) => c.toUpperCase());
const pct = (x: number) => `${(x * 100).toFixed(1)} %`;

/** `species:page:<n>:<prev|next>`: the page to show (the direction keeps the two buttons' ids apart). */
export const pageId = (page: number, dir: 'prev' | 'next') => `species:page:${page}:${dir}`;

export function parsePageId(id: string): number | undefined {
  const m = /^species:page:(\d{1,6}):(?:prev|next)$/.exec(id);
  return m ? Number(m[1]) : undefined;
}

export const pageCount = (n: number) => Math.max(1, Math.ceil(n / PAGE_SIZE));

function line(e: SpeciesEntry): string {
  if (e.collecting) return `🌱 ${title(e.name)} — collecting photos: ${e.collecting.approved} of ${e.collecting.needed} approved`;
  return `${title(e.name)}${e.taught ? ' 🆕' : ''}`;
}

/** One page of the list (`page` is clamped), with ◀ ▶ when there is more than one. */
export function speciesPage(all: SpeciesEntry[], page: number): ReplyPayload {
  const pages = pageCount(all.length);
  const p = Math.min(Math.max(0, page), pages - 1);
  const shown = all.slice(p * PAGE_SIZE, (p + 1) * PAGE_SIZE);
  const known = all.filter((e) => e.inModel).length;
  const collecting = all.length - known;
  const embed: APIEmbed = {
    color: COLOUR,
    title: `🌸 The species I know (${known})`,
    description: shown.length ? shown.map(line).join('\n') : 'I do not know any species yet.',
    footer: {
      text: [
        `page ${p + 1} of ${pages}`,
        '🆕 taught by members',
        ...(collecting ? [`🌱 ${collecting} still collecting photos`] : []),
        '/species show <name> for one',
      ].join(' · '),
    },
  };
  const components: MessageRow[] =
    pages > 1
      ? [
          {
            type: ROW,
            components: [
              { type: BUTTON, style: SECONDARY, custom_id: pageId(Math.max(0, p - 1), 'prev'), emoji: { name: '◀️' }, disabled: p === 0 },
              {
                type: BUTTON,
                style: SECONDARY,
                custom_id: pageId(Math.min(pages - 1, p + 1), 'next'),
                emoji: { name: '▶️' },
                disabled: p >= pages - 1,
              },
            ],
          },
        ]
      : [];
  return { embeds: [embed], files: [], components };
}

/** One species: photos trained on, accuracy and confusions, its typical photo; or how far its collection is. */
export function speciesCard(d: SpeciesDetail, typical?: Buffer): ReplyPayload {
  const fields: APIEmbedField[] = [];
  let description: string;
  if (d.collecting) {
    description =
      `Members are teaching me this one. **Collecting photos: ${d.collecting.approved} of ${d.collecting.needed} approved** ` +
      `(BLOOM_NEW_SPECIES_MIN_PHOTOS); ${
        d.collecting.approved >= d.collecting.needed ? 'the next /retrain adds it.' : 'once it has enough, the next /retrain adds it.'
      }`;
  } else {
    description = d.taught ? 'Taught by members 🆕 — I know it now.' : 'One of the species I know.';
    fields.push({
      name: 'Photos trained on',
      value: d.trained ? `${d.trained.dataset} from the data set · ${d.trained.community} from members` : 'not recorded for this model',
      inline: true,
    });
    const ev = d.evaluation;
    fields.push({
      name: 'On the evaluation photos',
      value: !ev
        ? 'not measured for this model'
        : ev.images === 0
          ? `no photos of it in the evaluation set (${ev.set})`
          : `${ev.correct} of ${ev.images} right (${pct(ev.correct / ev.images)})`,
      inline: true,
    });
    if (ev && ev.images > 0)
      fields.push({
        name: 'Most often confused with',
        value: ev.confusedWith.length
          ? ev.confusedWith
              .slice(0, 3)
              .map((c) => `${title(c.name)} (${c.count}×)`)
              .join(', ')
          : 'nothing — every evaluation photo of it was right',
      });
  }
  const embed: APIEmbed = { color: COLOUR, title: `${d.collecting ? '🌱' : '🌸'} ${title(d.name)}`, description, fields };
  if (!typical) return { embeds: [embed], files: [] };
  fields.push({ name: 'A typical one', value: `${title(d.name)} from the training set (thumbnail)`, inline: true });
  return { embeds: [{ ...embed, thumbnail: { url: 'attachment://typical.jpg' } }], files: [{ name: 'typical.jpg', data: typical }] };
}

/** "20261203-071500-ab12cd · 2026-12-03 07:15 · valid 95.8 % · 3 species". */
export function versionLine(v: ModelVersion): string {
  return [
    v.shipped ? `${v.id} (shipped default)` : v.id,
    v.createdAt.slice(0, 16).replace('T', ' '),
    `valid ${pct(v.validAccuracy)}`,
    ...(v.evalAccuracy !== undefined ? [`eval ${pct(v.evalAccuracy)}`] : []),
    `${v.species} species`,
  ].join(' · ');
}

export function modelList(versions: ModelVersion[]): ReplyPayload {
  const lines = versions.slice(0, 25).map((v) => `${v.live ? '🟢 **live** ' : '⚪ '}${versionLine(v)}`);
  return {
    embeds: [
      {
        color: COLOUR,
        title: '🧠 Model versions',
        description: lines.join('\n') || 'No model versions found.',
        footer: { text: 'Admins: /model rollback <version> makes another one live.' },
      },
    ],
    files: [],
  };
}

/** What the admin is told after /model rollback `asked`. */
export function rollbackMessage(r: RollbackOutcome, asked: string): string {
  switch (r.kind) {
    case 'busy':
      return 'A retrain is running; wait for it to finish, then roll back if you still want to.';
    case 'unknown':
      return `There is no model version "${asked.replace(/[`*_~|<>@]/g, '').slice(0, 80)}". See \`/model list\` for the versions I have.`;
    case 'pinned':
      return 'The shipped default model cannot be chosen while BLOOM_CHECKPOINT_DIR is set: after a restart I would load that folder instead.';
    case 'already':
      return `${versionLine(r.version)} is already the live model; nothing changed.`;
    case 'failed':
      return `I could not load ${r.version.id} (${r.error.slice(0, 300)}), so the live model stays as it was.`;
    case 'done':
      return (
        `Rolled back: ${versionLine(r.version)} is live now${r.previous ? ` (was ${r.previous})` : ''}. ` +
        'New photos are answered by it; answers already given keep their buttons.'
      );
  }
}

/** A species as an autocomplete choice: the value is its name, so typing it without picking works the same. */
export function speciesChoice(e: SpeciesEntry): { name: string; value: string } {
  return {
    name: `${title(e.name)}${e.collecting ? ' (collecting photos)' : e.taught ? ' 🆕' : ''}`.slice(0, 100),
    value: e.name.slice(0, 100),
  };
}
