// A checkpoint is a folder: the head (TF.js layers format) and meta.json.
// Saved into a temp folder and renamed, so a reader never sees half of one.
// A checkpoints root holds one folder per version and CURRENT naming the live one.
import * as tf from './tf.ts';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import type { AnswerSettings } from './answers.ts';
import type { BackboneSpec } from './backbones.ts';
import { folderLoader, saveModelToFolder } from './modelFiles.ts';

export const CHECKPOINT_FORMAT = 'bloom-checkpoint/1';

export interface EpochMetrics {
  epoch: number;
  trainLoss: number;
  trainAccuracy: number;
  validLoss: number;
  validAccuracy: number;
}

export interface TrainParams {
  arch: string;
  hiddenUnits: number[];
  dropout: number;
  learningRate: number;
  epochs: number;
  batchSize: number;
  augViews: number;
  augLevel: string;
  seed: number;
  /** Random views of each photo per epoch (0 or absent = all of them every epoch). */
  viewsPerEpoch?: number;
  /** The training loss (absent = cross-entropy) and LogitNorm's τ; /retrain's update uses the same. */
  loss?: 'crossentropy' | 'logitnorm';
  logitTemperature?: number;
  /** Rows mixed from two species per training row, trained toward no species (training/outlierMix.ts; absent = none). */
  outlierMix?: number;
}

export interface CheckpointMeta {
  format: typeof CHECKPOINT_FORMAT;
  version: string;
  createdAt: string;
  backbones: BackboneSpec[];
  labels: string[];
  names: Record<string, string>;
  params: TrainParams;
  epochs: EpochMetrics[];
  bestEpoch: number;
  validAccuracy: number;
  validTop5: number;
  trainImages: number;
  validImages: number;
  backend: string;
  trainSeconds: number;
  dataRoot: string;
  /** Per label: the training photo closest to its class mean (relative to dataRoot). */
  typicalImages: Record<string, string>;
  /** Set on the model shipped in models/default (npm run ship-model). */
  shipped?: ShippedInfo;
  /** Calibration and answer thresholds (npm run calibrate); absent on older checkpoints. */
  answers?: AnswerSettings;
  /** Per species on the evaluation set it was judged on (valid split + held-out contributions); /species shows it. */
  evaluation?: EvaluationSummary;
  /** Training photos per label: from the data set folders and from approved member contributions. */
  trainCounts?: Record<string, { dataset: number; community: number }>;
}

/** Results per label on an evaluation set; confusedWith: the labels its photos were taken for, most first. */
export interface EvaluationSummary {
  /** What was evaluated, e.g. "valid 818 + held-out contributions 12". */
  set: string;
  images: number;
  perLabel: Record<string, { images: number; correct: number; confusedWith: { label: string; count: number }[] }>;
}

export interface ShippedInfo {
  /** The checkpoint it was exported from. */
  fromVersion: string;
  exportedAt: string;
  /** How the head's weights are stored. */
  weights: 'float16';
  /** The command that trains and exports it again. */
  command: string;
  /** The valid photos' answers at the bot's confidence threshold, from the stored (float16) head. */
  valid: {
    images: number;
    top1: number;
    top5: number;
    threshold: number;
    confidentRight: number;
    confidentWrong: number;
    unsure: number;
    /** Shares of the valid photos per answer the bot gives (checkpoints with answer settings), at their species threshold. */
    answers?: { speciesThreshold: number; speciesRight: number; speciesWrong: number; notSure: number; notFlower: number };
  };
}

export class CheckpointError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'CheckpointError';
  }
}

export function newVersion(now = new Date()): string {
  const stamp = now.toISOString().replace(/[-:]/g, '').replace('T', '-').slice(0, 15);
  return `${stamp}-${crypto.randomBytes(3).toString('hex')}`;
}

/** Writes the checkpoint folder atomically under root/<version>; returns its path. */
export async function saveCheckpoint(root: string, head: tf.LayersModel, meta: CheckpointMeta): Promise<string> {
  fs.mkdirSync(root, { recursive: true });
  const tmp = fs.mkdtempSync(path.join(root, `.tmp-${meta.version}-`));
  try {
    await saveModelToFolder(head, tmp);
    fs.writeFileSync(path.join(tmp, 'meta.json'), JSON.stringify(meta, null, 2));
    const dest = path.join(root, meta.version);
    fs.renameSync(tmp, dest);
    return dest;
  } catch (err) {
    fs.rmSync(tmp, { recursive: true, force: true });
    throw err;
  }
}

/** Points root/CURRENT at a version (write-then-rename, atomic on POSIX). */
export function setCurrent(root: string, version: string): void {
  const tmp = path.join(root, `.CURRENT-${process.pid}`);
  fs.writeFileSync(tmp, version + '\n');
  fs.renameSync(tmp, path.join(root, 'CURRENT'));
}

/** A checkpoint folder, or a root with CURRENT → the checkpoint folder. */
export function resolveCheckpointDir(p: string): string {
  if (fs.existsSync(path.join(p, 'meta.json'))) return p;
  const cur = path.join(p, 'CURRENT');
  if (fs.existsSync(cur)) return path.join(p, fs.readFileSync(cur, 'utf8').trim());
  throw new CheckpointError(
    `No checkpoint at ${p} (expected meta.json, or CURRENT naming a version). Train one first: npm run train -- --help`,
  );
}

export function readMeta(dir: string): CheckpointMeta {
  let meta: CheckpointMeta;
  try {
    meta = JSON.parse(fs.readFileSync(path.join(dir, 'meta.json'), 'utf8')) as CheckpointMeta;
  } catch (err) {
    throw new CheckpointError(`Checkpoint ${dir} has an unreadable meta.json: ${(err as Error).message}`);
  }
  if (meta.format !== CHECKPOINT_FORMAT || !Array.isArray(meta.labels) || !Array.isArray(meta.backbones)) {
    throw new CheckpointError(`Checkpoint ${dir} is not a ${CHECKPOINT_FORMAT} checkpoint`);
  }
  return meta;
}

export async function loadCheckpoint(p: string): Promise<{ dir: string; meta: CheckpointMeta; head: tf.LayersModel }> {
  const dir = resolveCheckpointDir(p);
  const meta = readMeta(dir);
  let head: tf.LayersModel;
  try {
    head = await tf.loadLayersModel(folderLoader(dir));
  } catch (err) {
    throw new CheckpointError(`Checkpoint ${dir} is damaged: ${(err as Error).message}`);
  }
  const out = head.outputs[0]!.shape;
  const inp = head.inputs[0]!.shape;
  const featureSize = meta.backbones.reduce((n, b) => n + b.featureSize, 0);
  if (out[out.length - 1] !== meta.labels.length || inp[inp.length - 1] !== featureSize) {
    head.dispose();
    throw new CheckpointError(`Checkpoint ${dir} is inconsistent: head ${inp[1]}→${out[1]}, meta ${featureSize}→${meta.labels.length}`);
  }
  return { dir, meta, head };
}

/** Throws unless the loaded backbones are the ones the head was trained on. */
export function checkBackbones(meta: CheckpointMeta, loaded: BackboneSpec[]): void {
  const want = meta.backbones.map((b) => `${b.id}:${b.featureLayer}:${b.featureSize}`).join('+');
  const got = loaded.map((b) => `${b.id}:${b.featureLayer}:${b.featureSize}`).join('+');
  if (want !== got) throw new CheckpointError(`This checkpoint was trained on ${want} but the loaded backbone is ${got}`);
}
