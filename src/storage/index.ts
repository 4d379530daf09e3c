export { openDatabase, Store, type OpenDatabaseOptions } from './store.ts';
export { migrate, openConnection, DEFAULT_BUSY_TIMEOUT_MS, type Db, type ConnectionOptions } from './db.ts';
export { MIGRATIONS } from './migrations.ts';
export { isTransientError, type WriteFailure, type WriteErrorHandler } from './pending.ts';
export type { Prediction, PredictionRow, PredictionSource, TopKEntry } from './predictions.ts';
export type { FinishRunInput, FinishedStatus, RunStatus, StartRunInput, TrainingRun } from './trainingRuns.ts';
export type { PredictionStats, SpeciesCount, StatsFilter } from './stats.ts';
export type { Contribution, ContributionInput, FeedbackQueries, TallyEntry, Vote, VoteAnswer, VoteResult } from './feedback.ts';
export type { ApprovedPhoto, CommunitySpecies, LearningQueries } from './learning.ts';
