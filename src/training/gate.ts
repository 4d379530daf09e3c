// The accuracy gate of /retrain: the live model and the candidate judged on the
// same photos (the data set's valid split plus the held-out contributions),
// per species, so a retrain that learns a new species but breaks an old one
// shows it before it goes live.
import type { EvaluationSummary } from '../classifier/checkpoint.ts';

export interface Judged {
  summary: EvaluationSummary;
  /** Top-1 over the whole set. */
  accuracy: number;
  /** Top-1 on the valid split part alone, and top-5 there. */
  validAccuracy: number;
  validTop5: number;
  /** Top-1 on the photos of the species the live model knows (all photos when not told which). */
  knownAccuracy: number;
}

/** How much the species the live model knew may lose when a retrain adds species (0.5 points). */
export const GATE_TOLERANCE = 0.005;

/**
 * Whether the candidate may go live: not lower than the live model on the same
 * photos; or, when it adds species (which the live model can never get right,
 * so the whole set favours it), at most GATE_TOLERANCE lower on the species the live model knew.
 */
export function passesGate(before: Judged, after: Judged, speciesAdded: number, tolerance = GATE_TOLERANCE): boolean {
  if (speciesAdded > 0) return after.knownAccuracy >= before.knownAccuracy - tolerance - 1e-9;
  return after.accuracy >= before.accuracy;
}

/**
 * Scores probability rows (over `labels`) against each photo's true label. A
 * photo of a label the model does not have counts as wrong: both models are
 * judged on the same set, and the old one cannot name a species it never learnt.
 */
export function judge(
  probs: ArrayLike<number>[],
  truth: string[],
  labels: string[],
  isValid: boolean[],
  set: string,
  known?: ReadonlySet<string>,
): Judged {
  const perLabel: EvaluationSummary['perLabel'] = {};
  const confusions = new Map<string, Map<string, number>>();
  let correct = 0,
    validN = 0,
    validCorrect = 0,
    validTop5 = 0,
    knownN = 0,
    knownCorrect = 0;
  probs.forEach((row, i) => {
    const want = truth[i]!;
    const order = Array.from({ length: row.length }, (_, k) => k).sort((a, b) => row[b]! - row[a]!);
    const got = labels[order[0]!]!;
    const e = (perLabel[want] ??= { images: 0, correct: 0, confusedWith: [] });
    e.images++;
    if (got === want) {
      e.correct++;
      correct++;
    } else {
      const c = confusions.get(want) ?? new Map<string, number>();
      c.set(got, (c.get(got) ?? 0) + 1);
      confusions.set(want, c);
    }
    if (!known || known.has(want)) {
      knownN++;
      if (got === want) knownCorrect++;
    }
    if (isValid[i]) {
      validN++;
      if (got === want) validCorrect++;
      if (order.slice(0, 5).some((k) => labels[k] === want)) validTop5++;
    }
  });
  for (const [label, c] of confusions)
    perLabel[label]!.confusedWith = [...c]
      .map(([l, count]) => ({ label: l, count }))
      .sort((a, b) => b.count - a.count || a.label.localeCompare(b.label));
  const n = probs.length;
  return {
    summary: { set, images: n, perLabel },
    accuracy: n ? correct / n : 0,
    validAccuracy: validN ? validCorrect / validN : 0,
    validTop5: validN ? validTop5 / validN : 0,
    knownAccuracy: knownN ? knownCorrect / knownN : 0,
  };
}

export interface SpeciesChange {
  label: string;
  images: number;
  before: number;
  after: number;
}

/** Species whose correct answers changed, worst drop first (only those with photos in the set). */
export function speciesChanges(before: EvaluationSummary, after: EvaluationSummary): SpeciesChange[] {
  const labels = new Set([...Object.keys(before.perLabel), ...Object.keys(after.perLabel)]);
  const out: SpeciesChange[] = [];
  for (const label of labels) {
    const b = before.perLabel[label],
      a = after.perLabel[label];
    const images = a?.images ?? b?.images ?? 0;
    const change = { label, images, before: b?.correct ?? 0, after: a?.correct ?? 0 };
    if (change.before !== change.after) out.push(change);
  }
  return out.sort((x, y) => x.after - x.before - (y.after - y.before) || x.label.localeCompare(y.label, 'en', { numeric: true }));
}
