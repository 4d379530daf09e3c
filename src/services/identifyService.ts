// The way through for one photo: download (capped, sniffed, host-checked) →
// decode → classify (micro-batched) → typical photo → log row, returned as a
// domain result (no Discord types: src/bot renders it, scripts can print it).
import fs from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';
import crypto from 'node:crypto';
import type { AnswerKind } from '../classifier/answers.ts';
import type { Classifier, PhotoSignals } from '../classifier/classifier.ts';
import { decodeShortSide, ImageError, probeImage } from '../classifier/images.ts';
import { assessQuality, QUALITY_SIDE } from '../classifier/quality.ts';
import { thumbnailPath } from '../classifier/thumbnails.ts';
import type { Prediction } from '../classifier/ranking.ts';
import { toUserFacing, type UserFacingError } from '../errors.ts';
import { DownloadError, downloadBytes, type AddressPolicy, type Timeouts } from '../net/index.ts';
import type { PredictionSource, Store } from '../storage/index.ts';
import { MicroBatcher } from './batcher.ts';
import type { ModelManager } from './modelManager.ts';

export interface IdentifySettings {
  maxBytes: number;
  confidenceThreshold: number;
  minImageSide: number;
  topK: number;
  /** Discord CDN hosts attachments may come from. */
  cdnHosts: string[];
  /** Extra address policy, e.g. the local emulator's CDN origin. */
  addressPolicy?: AddressPolicy;
  /** Download timeouts; downloadBytes' defaults (30 s overall, 10 s idle) for what is not given. */
  downloadTimeouts?: Timeouts;
  /** Where to look for the typical training photos (the dataset root). */
  dataDir?: string;
  tta?: boolean;
  batchWindowMs?: number;
  /** Told the bytes of every identified photo that got a log row (feedback keeps recent ones to store on a vote). */
  keepPhoto?: (logId: number, bytes: Buffer) => void;
}

export interface IdentifyRequest {
  /** Attachment or user URL to fetch, or bytes already in hand (CLI). */
  url?: string;
  bytes?: Buffer;
  fromAttachment: boolean;
  name?: string;
  declaredSize?: number;
}

export interface IdentifyContext {
  source: PredictionSource;
  sourceId?: string;
  guildId?: string | null;
  channelId?: string | null;
  userId?: string | null;
}

/** The typical training photo of the best guess, as a small JPEG. */
export interface TypicalPhoto {
  label: string;
  name: string;
  jpeg: Buffer;
}

export interface Identified {
  kind: 'identified';
  /** Best first, at most topK. */
  top: Prediction[];
  /** Not a confident species: answer with candidates and tips (answer is 'notSure' or 'notFlower'). */
  uncertain: boolean;
  /** The kind of answer the model decided: a species, "not sure", or "that doesn't look like a flower". */
  answer?: AnswerKind;
  qualityNotes: string[];
  modelVersion: string;
  backend: string;
  ms: number;
  typical?: TypicalPhoto;
  /** Row id in the prediction log, or null if the write was queued after a failure (or there is no store). */
  logId: number | null;
}

export interface IdentifyFailed {
  kind: 'failed';
  /** A user-facing error (bad image, failed download), or an InternalError wrapping the unexpected cause. */
  error: UserFacingError;
  ms: number;
  logId: number | null;
}

export type IdentifyOutcome = Identified | IdentifyFailed;

/** A photo's bytes in hand, from IdentifyService.fetchPhoto. */
export interface Fetched {
  kind: 'fetched';
  bytes: Buffer;
  /** performance.now() when the download began, so the logged latency covers it. */
  t0: number;
  /** The attachment URL it came from (logged, so feedback can fetch it again after a restart). */
  url?: string;
}

type Job = { clf: Classifier; views: Uint8Array[]; tta: boolean };

export class IdentifyService {
  private readonly batcher: MicroBatcher<Job, PhotoSignals>;
  private readonly samples = new Map<string, Promise<Buffer | undefined>>();

  constructor(
    private readonly models: ModelManager,
    private readonly store: Store | undefined,
    private readonly s: IdentifySettings,
    private readonly backendName: () => string,
  ) {
    this.batcher = new MicroBatcher((jobs) => this.runBatch(jobs), { windowMs: s.batchWindowMs ?? 4, maxBatch: 16 });
  }

  /** One embed call for the whole batch; jobs hold their model so a swap mid-batch is safe. */
  private async runBatch(jobs: Job[]): Promise<PhotoSignals[]> {
    const out: PhotoSignals[] = [];
    for (const clf of new Set(jobs.map((j) => j.clf))) {
      const mine = jobs.filter((j) => j.clf === clf);
      const feats = await clf.embedder.embed(mine.flatMap((j) => j.views));
      const probs = clf.probsOfFeatures(feats);
      let at = 0;
      for (const j of mine) {
        const from = at;
        at += j.views.length;
        out[jobs.indexOf(j)] = clf.signals(feats.slice(from, at), probs.slice(from, at), j.tta);
      }
    }
    return out;
  }

  get batches(): number {
    return this.batcher.batches;
  }

  private async fetch(req: IdentifyRequest): Promise<Buffer> {
    if (req.bytes) return req.bytes;
    if (req.declaredSize === 0) throw new ImageError('EMPTY');
    if (req.declaredSize && req.declaredSize > this.s.maxBytes) {
      throw new DownloadError('TOO_LARGE', { limitBytes: this.s.maxBytes, detail: `declared ${req.declaredSize} bytes` });
    }
    const got = await downloadBytes(req.url!, {
      maxBytes: this.s.maxBytes,
      allowHosts: req.fromAttachment ? this.s.cdnHosts : undefined,
      ...this.s.addressPolicy,
      ...(this.s.downloadTimeouts ? { timeouts: this.s.downloadTimeouts } : {}),
    });
    return got.bytes;
  }

  /** The live model's typical photo of a species (as an answer shows it), for /species. */
  typicalPhoto(label: string): Promise<Buffer | undefined> {
    const clf = this.models.current;
    return clf?.meta.labels.includes(label) ? this.sample(clf, label) : Promise.resolve(undefined);
  }

  /**
   * The typical training photo of a class, as a small JPEG (cached per model
   * version): the thumbnail kept beside the model (typical/<label>.jpg) when
   * there is one, else the training photo itself if it is on disk.
   */
  private sample(clf: Classifier, label: string): Promise<Buffer | undefined> {
    const key = `${clf.version}:${label}`;
    let sample = this.samples.get(key);
    if (!sample) {
      const thumb = thumbnailPath(clf.dir, label);
      const rel = clf.meta.typicalImages?.[label];
      const roots = [this.s.dataDir, clf.meta.dataRoot].filter((r): r is string => !!r);
      const file = rel && roots.map((r) => path.join(r, rel)).find((f) => fs.existsSync(f));
      sample = fs.existsSync(thumb)
        ? fs.promises.readFile(thumb).catch(() => undefined)
        : file
          ? sharp(file)
              .rotate()
              .resize(320, 320, { fit: 'inside' })
              .jpeg({ quality: 82 })
              .toBuffer()
              .catch(() => undefined)
          : Promise.resolve(undefined);
      this.samples.set(key, sample);
    }
    return sample;
  }

  /**
   * The download phase alone, so the bot can hold a download slot for it and a
   * model slot only once the bytes are in hand. Never throws: a failure is an
   * outcome, logged as a prediction row with its error code like any other.
   */
  async fetchPhoto(req: IdentifyRequest, ctx: IdentifyContext): Promise<Fetched | IdentifyFailed> {
    const t0 = performance.now();
    try {
      return { kind: 'fetched', bytes: await this.fetch(req), t0, ...(req.fromAttachment && req.url && { url: req.url }) };
    } catch (err) {
      return this.failed(ctx, err, t0);
    }
  }

  /** Decode → classify → log for bytes from fetchPhoto; the latency counts from the download's start. Never throws. */
  async identifyFetched(f: Fetched, ctx: IdentifyContext): Promise<IdentifyOutcome> {
    const { bytes, t0 } = f;
    let info: { width: number; height: number } | undefined;
    try {
      info = await probeImage(bytes);
      // One decode at 256 px serves the quality check and the model's 224 px centre view.
      const decoded = await decodeShortSide(bytes, QUALITY_SIDE);
      const quality = await assessQuality(bytes, { minSide: this.s.minImageSide }, { info, decoded });
      const { scored, clf } = await this.models.use(async (clf) => {
        const views = await clf.views(bytes, { tta: this.s.tta, decoded });
        return { scored: await this.batcher.submit({ clf, views, tta: !!this.s.tta }), clf };
      });
      const top = clf.rank(scored.probs, this.s.topK);
      const answer = clf.answer(scored, this.s.confidenceThreshold).kind;
      const uncertain = answer !== 'species';
      const best = top[0]!;
      const sample = await this.sample(clf, best.label);
      const ms = performance.now() - t0;
      const logId = this.log(ctx, {
        bytes,
        info,
        top,
        ms,
        modelVersion: clf.version,
        qualityNote: quality.notes.join(' ') || null,
        imageUrl: f.url,
      });
      if (logId !== null) this.s.keepPhoto?.(logId, bytes);
      return {
        kind: 'identified',
        top,
        uncertain,
        answer,
        ms,
        logId,
        modelVersion: clf.version,
        backend: this.backendName(),
        qualityNotes: quality.notes,
        ...(sample && { typical: { label: best.label, name: best.name, jpeg: sample } }),
      };
    } catch (err) {
      return this.failed(ctx, err, t0, bytes, info);
    }
  }

  /** Never throws: every failure is an outcome (an unexpected one as an InternalError, logged by the caller). */
  async identify(req: IdentifyRequest, ctx: IdentifyContext): Promise<IdentifyOutcome> {
    const f = await this.fetchPhoto(req, ctx);
    return f.kind === 'fetched' ? this.identifyFetched(f, ctx) : f;
  }

  private failed(ctx: IdentifyContext, err: unknown, t0: number, bytes?: Buffer, info?: { width: number; height: number }): IdentifyFailed {
    const error = toUserFacing(err);
    const ms = performance.now() - t0;
    // Expected failures log their user message; an internal one its technical detail.
    const logId = this.log(ctx, {
      bytes,
      info,
      ms,
      errorCode: error.code,
      errorMessage: error.code === 'INTERNAL' ? error.detail : error.message,
    });
    return { kind: 'failed', error, ms, logId };
  }

  private log(
    ctx: IdentifyContext,
    r: {
      bytes?: Buffer;
      info?: { width: number; height: number };
      top?: Prediction[];
      ms: number;
      modelVersion?: string;
      errorCode?: string;
      errorMessage?: string;
      qualityNote?: string | null;
      imageUrl?: string;
    },
  ): number | null {
    if (!this.store) return null;
    return this.store.safeInsertPrediction({
      source: ctx.source,
      sourceId: ctx.sourceId ?? null,
      guildId: ctx.guildId ?? null,
      channelId: ctx.channelId ?? null,
      userId: ctx.userId ?? null,
      imageSha256: r.bytes ? crypto.createHash('sha256').update(r.bytes).digest('hex') : null,
      imageBytes: r.bytes?.length ?? null,
      width: r.info?.width ?? null,
      height: r.info?.height ?? null,
      topK: r.top?.map((p) => ({ label: p.label, name: p.name, probability: p.probability })),
      modelVersion: r.modelVersion ?? this.models.version ?? null,
      backend: this.backendName(),
      latencyMs: Math.round(r.ms),
      errorCode: r.errorCode ?? null,
      errorMessage: r.errorMessage ?? null,
      qualityNote: r.qualityNote ?? null,
      imageUrl: r.imageUrl ?? null,
    });
  }
}
