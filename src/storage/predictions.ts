import type { Db } from './db.ts';

export type PredictionSource = 'message' | 'slash' | 'url' | 'cli';

export interface TopKEntry {
  label: string;
  name: string;
  probability: number;
}

/** What a caller records about one identification attempt (successful or not). */
export interface PredictionRow {
  /** ISO timestamp; defaults to now (taken at call time, even if the write is queued). */
  createdAt?: string;
  source: PredictionSource;
  /** Message id or interaction id, depending on `source`. */
  sourceId?: string | null;
  guildId?: string | null;
  channelId?: string | null;
  userId?: string | null;
  imageSha256?: string | null;
  imageBytes?: number | null;
  width?: number | null;
  height?: number | null;
  topK?: readonly TopKEntry[];
  modelVersion?: string | null;
  backend?: string | null;
  latencyMs?: number | null;
  errorCode?: string | null;
  errorMessage?: string | null;
  qualityNote?: string | null;
  /** Where the photo was downloaded from (an attachment URL), so feedback can fetch it again. */
  imageUrl?: string | null;
}

/** A stored prediction; top1 fields are derived from `topK` on insert. */
export interface Prediction {
  id: number;
  createdAt: string;
  source: PredictionSource;
  sourceId: string | null;
  guildId: string | null;
  channelId: string | null;
  userId: string | null;
  imageSha256: string | null;
  imageBytes: number | null;
  width: number | null;
  height: number | null;
  topK: TopKEntry[];
  top1Label: string | null;
  top1Name: string | null;
  top1Probability: number | null;
  modelVersion: string | null;
  backend: string | null;
  latencyMs: number | null;
  errorCode: string | null;
  errorMessage: string | null;
  qualityNote: string | null;
  imageUrl: string | null;
}

/** A row with its timestamp fixed, ready to bind; what the pending queue holds. */
export type PredictionParams = ReturnType<typeof toParams>;

export function toParams(row: PredictionRow, now: () => string = () => new Date().toISOString()) {
  const topK = row.topK ?? [];
  // The highest probability wins, whatever order the caller passed.
  const top1 = topK.reduce<TopKEntry | undefined>((best, e) => (!best || e.probability > best.probability ? e : best), undefined);
  return {
    createdAt: row.createdAt ?? now(),
    source: row.source,
    sourceId: row.sourceId ?? null,
    guildId: row.guildId ?? null,
    channelId: row.channelId ?? null,
    userId: row.userId ?? null,
    imageSha256: row.imageSha256 ?? null,
    imageBytes: row.imageBytes ?? null,
    width: row.width ?? null,
    height: row.height ?? null,
    topK: JSON.stringify(topK),
    top1Label: top1?.label ?? null,
    top1Name: top1?.name ?? null,
    top1Probability: top1?.probability ?? null,
    modelVersion: row.modelVersion ?? null,
    backend: row.backend ?? null,
    latencyMs: row.latencyMs ?? null,
    errorCode: row.errorCode ?? null,
    errorMessage: row.errorMessage ?? null,
    qualityNote: row.qualityNote ?? null,
    imageUrl: row.imageUrl ?? null,
  };
}

const SELECT = `
  SELECT id, created_at AS createdAt, source, source_id AS sourceId, guild_id AS guildId,
         channel_id AS channelId, user_id AS userId, image_sha256 AS imageSha256,
         image_bytes AS imageBytes, width, height, top_k AS topK, top1_label AS top1Label,
         top1_name AS top1Name, top1_probability AS top1Probability, model_version AS modelVersion,
         backend, latency_ms AS latencyMs, error_code AS errorCode, error_message AS errorMessage,
         quality_note AS qualityNote, image_url AS imageUrl
  FROM predictions`;

type StoredPrediction = Omit<Prediction, 'topK'> & { topK: string };
const fromStored = (r: StoredPrediction): Prediction => ({ ...r, topK: JSON.parse(r.topK) as TopKEntry[] });

export function predictionQueries(db: Db) {
  const insert = db.prepare<PredictionParams>(`
    INSERT INTO predictions (
      created_at, source, source_id, guild_id, channel_id, user_id, image_sha256, image_bytes,
      width, height, top_k, top1_label, top1_name, top1_probability, model_version, backend,
      latency_ms, error_code, error_message, quality_note, image_url
    ) VALUES (
      @createdAt, @source, @sourceId, @guildId, @channelId, @userId, @imageSha256, @imageBytes,
      @width, @height, @topK, @top1Label, @top1Name, @top1Probability, @modelVersion, @backend,
      @latencyMs, @errorCode, @errorMessage, @qualityNote, @imageUrl
    )`);
  const byId = db.prepare<[number], StoredPrediction>(`${SELECT} WHERE id = ?`);
  const recent = db.prepare<{ guildId: string | null; limit: number }, StoredPrediction>(`
    ${SELECT} WHERE (@guildId IS NULL OR guild_id = @guildId)
    ORDER BY created_at DESC, id DESC LIMIT @limit`);

  return {
    insert: (params: PredictionParams): number => Number(insert.run(params).lastInsertRowid),
    get: (id: number): Prediction | undefined => {
      const row = byId.get(id);
      return row && fromStored(row);
    },
    /** Newest first (by creation time, so rows written late from the queue sort correctly). */
    recent: (limit: number, guildId?: string): Prediction[] =>
      recent.all({ guildId: guildId ?? null, limit: Math.max(0, Math.trunc(limit)) }).map(fromStored),
  };
}
