/**
 * Schema steps, applied in order. Step i brings the database to
 * `PRAGMA user_version = i + 1`. Never edit a step that has shipped: append a new one.
 */
export const MIGRATIONS: readonly string[] = [
  // 1: initial schema
  `
  CREATE TABLE predictions (
    id               INTEGER PRIMARY KEY,
    created_at       TEXT    NOT NULL,
    source           TEXT    NOT NULL CHECK (source IN ('message', 'slash', 'url', 'cli')),
    source_id        TEXT,
    guild_id         TEXT,
    channel_id       TEXT,
    user_id          TEXT,
    image_sha256     TEXT,
    image_bytes      INTEGER,
    width            INTEGER,
    height           INTEGER,
    top_k            TEXT    NOT NULL DEFAULT '[]' CHECK (json_valid(top_k)),
    top1_label       TEXT,
    top1_name        TEXT,
    top1_probability REAL,
    model_version    TEXT,
    backend          TEXT,
    latency_ms       REAL,
    error_code       TEXT,
    error_message    TEXT,
    quality_note     TEXT
  );
  CREATE INDEX predictions_created_at ON predictions (created_at);
  CREATE INDEX predictions_guild_created_at ON predictions (guild_id, created_at);

  CREATE TABLE training_runs (
    id               INTEGER PRIMARY KEY,
    started_at       TEXT    NOT NULL,
    finished_at      TEXT,
    requested_by     TEXT,
    guild_id         TEXT,
    params           TEXT    NOT NULL DEFAULT '{}' CHECK (json_valid(params)),
    status           TEXT    NOT NULL DEFAULT 'running'
                             CHECK (status IN ('running', 'succeeded', 'rejected', 'failed')),
    metrics          TEXT    CHECK (metrics IS NULL OR json_valid(metrics)),
    valid_accuracy   REAL,
    model_version    TEXT,
    previous_version TEXT,
    error            TEXT,
    -- Which process is running it, so a restart can tell its own dead runs from a live one elsewhere.
    pid              INTEGER,
    owner            TEXT
  );
  CREATE INDEX training_runs_status ON training_runs (status);

  CREATE TABLE watched_channels (
    guild_id   TEXT NOT NULL,
    channel_id TEXT NOT NULL,
    added_at   TEXT NOT NULL,
    PRIMARY KEY (guild_id, channel_id)
  ) WITHOUT ROWID;

  CREATE TABLE guild_settings (
    guild_id   TEXT NOT NULL,
    key        TEXT NOT NULL,
    value      TEXT NOT NULL CHECK (json_valid(value)),
    updated_at TEXT NOT NULL,
    PRIMARY KEY (guild_id, key)
  ) WITHOUT ROWID;
  `,
  // 2: feedback on answers (votes) and the photos kept because of it (contributions)
  `
  -- Where the photo came from (a Discord attachment), so feedback after a restart can fetch it again.
  ALTER TABLE predictions ADD COLUMN image_url TEXT;

  CREATE TABLE votes (
    id            INTEGER PRIMARY KEY,
    prediction_id INTEGER NOT NULL REFERENCES predictions (id) ON DELETE CASCADE,
    user_id       TEXT    NOT NULL,
    -- Exactly one answer: a known label, a species Bloom does not know yet, or "not a flower".
    label         TEXT,
    new_name      TEXT,
    not_flower    INTEGER NOT NULL DEFAULT 0 CHECK (not_flower IN (0, 1)),
    created_at    TEXT    NOT NULL,
    updated_at    TEXT    NOT NULL,
    CHECK ((label IS NOT NULL) + (new_name IS NOT NULL) + not_flower = 1),
    UNIQUE (prediction_id, user_id)
  );

  CREATE TABLE contributions (
    id            INTEGER PRIMARY KEY,
    sha256        TEXT    NOT NULL,
    path          TEXT    NOT NULL,
    bytes         INTEGER NOT NULL,
    prediction_id INTEGER NOT NULL REFERENCES predictions (id) ON DELETE CASCADE,
    label         TEXT,
    new_name      TEXT,
    not_flower    INTEGER NOT NULL DEFAULT 0 CHECK (not_flower IN (0, 1)),
    status        TEXT    NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'approved', 'rejected')),
    created_by    TEXT    NOT NULL,
    created_at    TEXT    NOT NULL,
    UNIQUE (prediction_id, created_by)
  );
  CREATE INDEX contributions_created_by ON contributions (created_by, created_at);
  CREATE INDEX contributions_status ON contributions (status);
  `,
  // 3: review of contributions, and species taught by the community
  `
  -- Species Bloom did not know, created when an admin approves a photo named so (or /species add).
  -- Their model label is 'c' || id (dataset labels are the data set's folder names).
  CREATE TABLE species (
    id         INTEGER PRIMARY KEY,
    label      TEXT    NOT NULL UNIQUE,
    name       TEXT    NOT NULL,
    created_by TEXT,
    created_at TEXT    NOT NULL
  );
  CREATE UNIQUE INDEX species_name ON species (lower(name));

  -- The review: who decided, when, and the label the photo trains as (a dataset label or a species.label);
  -- NULL for an approved "not a flower".
  ALTER TABLE contributions ADD COLUMN final_label TEXT;
  ALTER TABLE contributions ADD COLUMN reviewed_by TEXT;
  ALTER TABLE contributions ADD COLUMN reviewed_at TEXT;
  CREATE INDEX contributions_sha256 ON contributions (sha256);
  `,
];
