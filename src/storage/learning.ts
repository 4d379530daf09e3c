import type { Db } from './db.ts';

/** A species taught by the community (not in the data set). Its model label is `c<id>`. */
export interface CommunitySpecies {
  id: number;
  label: string;
  name: string;
  createdBy: string | null;
  createdAt: string;
}

/** An approved photo as /retrain trains on it: one row per photo (content hash), with the label it trains as. */
export interface ApprovedPhoto {
  sha256: string;
  path: string;
  label: string;
  /** Most recent approval of this photo. */
  reviewedAt: string;
}

/** Species taught by the community and the approved photos /retrain learns from (migration 3). */
export function learningQueries(db: Db) {
  const insertSpecies = db.prepare<{ name: string; createdBy: string | null; now: string }>(`
    INSERT INTO species (label, name, created_by, created_at)
    VALUES ('c' || (SELECT coalesce(max(id), 0) + 1 FROM species), @name, @createdBy, @now)`);
  const speciesColumns = `id, label, name, created_by AS createdBy, created_at AS createdAt`;
  const byName = db.prepare<[string], CommunitySpecies>(`SELECT ${speciesColumns} FROM species WHERE lower(name) = lower(?)`);
  const byRowid = db.prepare<[number | bigint], CommunitySpecies>(`SELECT ${speciesColumns} FROM species WHERE rowid = ?`);
  const all = db.prepare<[], CommunitySpecies>(`SELECT ${speciesColumns} FROM species ORDER BY id`);
  // A photo contributed by several members counts once; the latest review decides its label.
  const approved = db.prepare<[], ApprovedPhoto>(`
    SELECT sha256, path, final_label AS label, reviewed_at AS reviewedAt FROM (
      SELECT sha256, path, final_label, reviewed_at,
             row_number() OVER (PARTITION BY sha256 ORDER BY reviewed_at DESC, id DESC) AS n
      FROM contributions WHERE status = 'approved' AND final_label IS NOT NULL)
    WHERE n = 1 ORDER BY sha256`);

  return {
    /** The species of that name (case-insensitive), created if it does not exist yet. */
    ensureSpecies: (name: string, createdBy: string | null): { species: CommunitySpecies; created: boolean } =>
      db
        .transaction(() => {
          const found = byName.get(name.trim());
          if (found) return { species: found, created: false };
          const info = insertSpecies.run({ name: name.trim(), createdBy, now: new Date().toISOString() });
          return { species: byRowid.get(info.lastInsertRowid)!, created: true };
        })
        .immediate(),
    speciesByName: (name: string): CommunitySpecies | undefined => byName.get(name.trim()),
    communitySpecies: (): CommunitySpecies[] => all.all(),
    approvedPhotos: (): ApprovedPhoto[] => approved.all(),
  };
}

export type LearningQueries = ReturnType<typeof learningQueries>;
