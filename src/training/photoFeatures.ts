// Each photo's features for the crops the bot answers from (cached like
// training views), so evaluate and calibrate see exactly what the bot sees.
import type { Classifier } from '../classifier/classifier.ts';
import type { AnswerViews } from '../classifier/crops.ts';
import type { Sample } from './dataset.ts';
import type { FeatureCache } from './featureCache.ts';
import { cropPlan, extractFeatures } from './features.ts';

export interface PhotoFeatures {
  sample: Sample;
  /** One row per crop, in `views.crops` order. */
  features: Float32Array[];
}

export async function photoFeatures(
  clf: Classifier,
  samples: Sample[],
  cache: FeatureCache | undefined,
  views: AnswerViews = clf.answerViews,
  onProgress?: (done: number, total: number) => void,
): Promise<{ photos: PhotoFeatures[]; skipped: { path: string; reason: string }[] }> {
  const r = await extractFeatures(samples, { embedder: clf.embedder, cache, plan: cropPlan(views.crops), onProgress });
  // Copies: an ensemble's cached rows are only valid until the next extraction.
  return { photos: r.items.map((it) => ({ sample: it.sample, features: it.views.map((v) => Float32Array.from(v)) })), skipped: r.skipped };
}
