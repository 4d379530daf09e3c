// Which approved contributions a retrain learns from, which it keeps aside to
// judge the model on, and which species join the model.
import path from 'node:path';

/** Share of contributions held out for evaluation (chosen by photo hash, so a photo never changes side). */
export const HELD_OUT_SHARE = 0.2;

/** A photo is held out when the first 32 bits of its SHA-256, as a fraction, fall below the share. */
export function isHeldOut(sha256: string, share = HELD_OUT_SHARE): boolean {
  const v = parseInt(sha256.slice(0, 8), 16);
  if (!Number.isFinite(v)) throw new Error(`not a sha256: ${sha256}`);
  return v / 2 ** 32 < share;
}

export interface ApprovedInput {
  sha256: string;
  /** Relative to the contributions folder (or absolute). */
  path: string;
  label: string;
}

export interface PlannedPhoto {
  sha256: string;
  /** Absolute. */
  path: string;
  label: string;
}

export interface SpeciesCount {
  label: string;
  name: string;
  photos: number;
}

export interface ContributionPlan {
  /** Photos the head learns from (labels the new model has). */
  train: PlannedPhoto[];
  /** Photos kept aside for the evaluation set (labels the new model has). */
  heldOut: PlannedPhoto[];
  /** Species that join the model now, with their approved photos (training and held out). */
  added: SpeciesCount[];
  /** Species the model does not know yet that need more approved photos. */
  waiting: (SpeciesCount & { needed: number })[];
  /** The new model's labels: the live ones, then the added ones. */
  labels: string[];
  names: Record<string, string>;
}

export interface PlanInput {
  approved: ApprovedInput[];
  contribDir: string;
  /** The live model's labels and names. */
  liveLabels: string[];
  liveNames: Record<string, string>;
  /** Names of the data set's labels and of the community species (label → name). */
  names: Record<string, string>;
  minPhotos: number;
  share?: number;
}

/**
 * Labels the live model knows always train; a label it does not know (a
 * community species, or a data set label it was trained without) joins once
 * it has `minPhotos` approved photos, counting held-out ones. A species whose
 * photos would all be held out trains on them instead (nothing to learn from otherwise).
 */
export function planContributions(o: PlanInput): ContributionPlan {
  const share = o.share ?? HELD_OUT_SHARE;
  const known = new Set(o.liveLabels);
  const byLabel = new Map<string, PlannedPhoto[]>();
  for (const a of o.approved) {
    const p = { sha256: a.sha256, label: a.label, path: path.isAbsolute(a.path) ? a.path : path.join(o.contribDir, a.path) };
    byLabel.set(a.label, [...(byLabel.get(a.label) ?? []), p]);
  }
  const nameOf = (l: string) => o.liveNames[l] ?? o.names[l] ?? l;
  const added: SpeciesCount[] = [],
    waiting: ContributionPlan['waiting'] = [];
  for (const [label, photos] of [...byLabel].sort(([a], [b]) => a.localeCompare(b, 'en', { numeric: true }))) {
    if (known.has(label)) continue;
    const entry = { label, name: nameOf(label), photos: photos.length };
    if (photos.length >= o.minPhotos) added.push(entry);
    else waiting.push({ ...entry, needed: o.minPhotos });
  }
  const labels = [...o.liveLabels, ...added.map((a) => a.label)];
  const train: PlannedPhoto[] = [],
    heldOut: PlannedPhoto[] = [];
  for (const label of labels) {
    const photos = byLabel.get(label) ?? [];
    const out = photos.filter((p) => isHeldOut(p.sha256, share));
    if (out.length === photos.length) train.push(...photos);
    else {
      train.push(...photos.filter((p) => !isHeldOut(p.sha256, share)));
      heldOut.push(...out);
    }
  }
  const names = { ...Object.fromEntries(labels.map((l) => [l, nameOf(l)])) };
  return { train, heldOut, added, waiting, labels, names };
}
