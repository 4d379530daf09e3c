// The species Bloom knows, for /species: the live model's labels, and the species
// members taught it (store.learning), with what the model records about each one
// (photos trained on, accuracy on the evaluation set, what it is confused with).
// Domain results only: commands/species.ts and src/bot/catalogueRender.ts show them.
import type { CheckpointMeta } from '../classifier/checkpoint.ts';
import type { LearningQueries } from '../storage/learning.ts';
import { editDistance, matchSpecies, normalizeName } from './feedbackService.ts';

export interface SpeciesEntry {
  /** The model label (a data set folder name, or `c<id>` for a species taught by members). */
  label: string;
  name: string;
  /** The live model answers with it. */
  inModel: boolean;
  /** Taught by members (a row in `species`): shown as new (🆕) once the model has it. */
  taught: boolean;
  /** A taught species the model does not know yet: approved photos so far, and how many a /retrain needs. */
  collecting?: { approved: number; needed: number };
}

export interface SpeciesDetail extends SpeciesEntry {
  /** Photos the live model was trained on; undefined when its checkpoint does not record them. */
  trained?: { dataset: number; community: number };
  /** Results on the model's evaluation set; undefined when the model was not measured per species. */
  evaluation?: { set: string; images: number; correct: number; confusedWith: { label: string; name: string; count: number }[] };
}

export type AddSpeciesResult = { kind: 'added'; entry: SpeciesEntry } | { kind: 'known'; entry: SpeciesEntry } | { kind: 'invalid' };

export class CatalogueService {
  constructor(
    /** The live model's meta (undefined before one is loaded). */
    private readonly live: () => CheckpointMeta | undefined,
    private readonly learning: Pick<LearningQueries, 'communitySpecies' | 'approvedPhotos' | 'ensureSpecies'>,
    /** BLOOM_NEW_SPECIES_MIN_PHOTOS: approved photos a taught species needs before /retrain adds it. */
    private readonly minPhotos: number,
  ) {}

  /** Every species: the model's by name, then the taught ones still collecting photos (most photos first). */
  all(): SpeciesEntry[] {
    const meta = this.live();
    const taught = this.learning.communitySpecies();
    const taughtNames = new Map(taught.map((s) => [s.label, s.name]));
    const inModel = new Set(meta?.labels ?? []);
    const byName = (a: SpeciesEntry, b: SpeciesEntry) => a.name.localeCompare(b.name, 'en', { sensitivity: 'base' });
    const known: SpeciesEntry[] = (meta?.labels ?? []).map((label) => ({
      label,
      name: meta?.names[label] ?? taughtNames.get(label) ?? label,
      inModel: true,
      taught: taughtNames.has(label),
    }));
    const approved = new Map<string, number>();
    for (const p of this.learning.approvedPhotos()) approved.set(p.label, (approved.get(p.label) ?? 0) + 1);
    const collecting: SpeciesEntry[] = taught
      .filter((s) => !inModel.has(s.label))
      .map((s) => ({
        label: s.label,
        name: s.name,
        inModel: false,
        taught: true,
        collecting: { approved: approved.get(s.label) ?? 0, needed: this.minPhotos },
      }));
    return [...known.sort(byName), ...collecting.sort((a, b) => b.collecting!.approved - a.collecting!.approved || byName(a, b))];
  }

  /**
   * What to suggest while a member types: names starting with it first, then names
   * containing it, then names within a typo or two; at most `limit`, all when nothing is typed.
   */
  suggest(typed: string, limit = 25): SpeciesEntry[] {
    const all = this.all();
    const key = normalizeName(typed);
    if (!key) return all.slice(0, limit);
    const rank = (e: SpeciesEntry): number => {
      const name = normalizeName(e.name);
      if (name.startsWith(key) || e.name.split(/\s+/).some((w) => normalizeName(w).startsWith(key))) return 0;
      if (name.includes(key)) return 1;
      // A typo (from 4 letters on): compare with the start of the name as long as what was typed.
      if (key.length < 4) return Infinity;
      const d = editDistance(key, name.slice(0, key.length));
      return d <= Math.max(1, Math.floor(key.length / 4)) ? 2 + d : Infinity;
    };
    return all
      .map((e, i) => ({ e, i, r: rank(e) }))
      .filter((x) => x.r !== Infinity)
      .sort((a, b) => a.r - b.r || a.i - b.i)
      .slice(0, limit)
      .map((x) => x.e);
  }

  /** The species a typed name means, forgivingly (case, accents, spacing, a small typo), as feedback matches names. */
  find(typed: string): SpeciesEntry | undefined {
    const all = this.all();
    const m = matchSpecies(typed, Object.fromEntries(all.map((e) => [e.label, e.name])));
    return m?.kind === 'label' ? all.find((e) => e.label === m.label) : undefined;
  }

  /** One species with what the live model records about it. */
  detail(entry: SpeciesEntry): SpeciesDetail {
    const meta = this.live();
    if (!entry.inModel || !meta) return { ...entry };
    const nameOf = (label: string) => meta.names[label] ?? this.all().find((e) => e.label === label)?.name ?? label;
    const counts = meta.trainCounts?.[entry.label];
    const ev = meta.evaluation;
    const mine = ev?.perLabel[entry.label];
    return {
      ...entry,
      ...(counts && { trained: { dataset: counts.dataset, community: counts.community } }),
      ...(ev &&
        mine && {
          evaluation: {
            set: ev.set,
            images: mine.images,
            correct: mine.correct,
            confusedWith: mine.confusedWith.map((c) => ({ label: c.label, name: nameOf(c.label), count: c.count })),
          },
        }),
    };
  }

  /**
   * A species taught by members, before any photo of it (an admin's /species add). Refused when the
   * name is already a known species (case, accents and spacing do not matter) or has no letters.
   */
  add(typed: string, by: string): AddSpeciesResult {
    const m = matchSpecies(typed, {});
    if (!m) return { kind: 'invalid' };
    const key = normalizeName(m.name);
    const known = this.all().find((e) => normalizeName(e.name) === key);
    if (known) return { kind: 'known', entry: known };
    const { species, created } = this.learning.ensureSpecies(m.name, by);
    const entry = this.all().find((e) => e.label === species.label)!;
    return created ? { kind: 'added', entry } : { kind: 'known', entry };
  }
}
