// What commands and listeners get: services, never TF.js or SQL directly.
import type { Logger } from 'pino';
import type { Config } from '../config.ts';
import type { Admission, Cooldowns, UserInFlight } from '../services/admission.ts';
import type { CatalogueService } from '../services/catalogueService.ts';
import type { FeedbackService } from '../services/feedbackService.ts';
import type { ForgetService } from '../services/forgetService.ts';
import type { IdentifyService } from '../services/identifyService.ts';
import type { ModelManager } from '../services/modelManager.ts';
import type { ModelVersions } from '../services/modelVersions.ts';
import type { RetrainService } from '../services/retrainService.ts';
import type { ReviewService } from '../services/reviewService.ts';
import type { Store } from '../storage/index.ts';

export interface BotContext {
  config: Config;
  log: Logger;
  store: Store;
  models: ModelManager;
  identify: IdentifyService;
  retrain: RetrainService;
  /** Votes on answers and the photos kept because of them. */
  feedback: FeedbackService;
  /** The review queue of kept photos, and approval by agreement. */
  review: ReviewService;
  /** /forget: a member's votes and kept photos. */
  forget: ForgetService;
  /** The species Bloom knows or is learning (/species). */
  catalogue: CatalogueService;
  /** The model versions to choose from (/model). */
  versions: ModelVersions;
  cooldowns: Cooldowns;
  /** Model slots: photos with their bytes in hand being classified (BLOOM_QUEUE_LIMIT). */
  admission: Admission;
  /** Download slots, one pool for user `url:` links and one for Discord attachments (photoPipeline.ts says why). */
  downloads: { url: Admission; attachment: Admission };
  /** Photos in flight per user (BLOOM_USER_IN_FLIGHT). */
  userInFlight: UserInFlight;
  backend: string;
  /** Minimum gap between /retrain progress edits (Discord rate-limits edits). */
  retrainEditMs: number;
  /** Tracks work so shutdown can wait for it; returns the same promise. */
  track<T>(p: Promise<T>): Promise<T>;
  /** True once shutdown has begun: new work is politely refused. */
  draining(): boolean;
}
