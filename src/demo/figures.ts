// The demo's line of figures: how the model answers its validation photos.
import type { DemoPlan } from '../training/ship.ts';

/** "90%", "0.2%" (a small share keeps a decimal so it does not read as none), "0%". */
export function percent(x: number): string {
  const p = x * 100;
  return `${p > 0 && p < 1 ? p.toFixed(1) : p.toFixed(0)}%`;
}

/** In the answer kinds a member sees when the model has answer settings; else at the plain confidence threshold. */
export function figuresLine(plan: Pick<DemoPlan, 'valid'>): string {
  const v = plan.valid;
  const a = v.answers;
  if (a)
    return (
      `On its ${v.images} validation photos (never trained on) this model names the right species for ${percent(a.speciesRight)}, ` +
      `a wrong species for ${percent(a.speciesWrong)}, answers "not sure" with its best guesses for ${percent(a.notSure)}, ` +
      `and "that doesn't look like a flower" for ${percent(a.notFlower)}.`
    );
  return (
    `On its ${v.images} validation photos this model is sure and right ${percent(v.confidentRight)} of the time, ` +
    `sure and wrong ${percent(v.confidentWrong)}, and answers "not sure" ${percent(v.unsure)} (below ${percent(v.threshold)}).`
  );
}
