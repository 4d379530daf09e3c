// The TensorFlow.js backends Bloom knows, best first. Kept apart from backend.ts
// (which loads TF.js) so the configuration can validate BLOOM_BACKEND without it.
export const BACKENDS = ['tensorflow-gpu', 'tensorflow', 'wasm', 'cpu'] as const;
export type BackendName = (typeof BACKENDS)[number];

export function isBackendName(s: string): s is BackendName {
  return (BACKENDS as readonly string[]).includes(s);
}
