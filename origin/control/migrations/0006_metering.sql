-- Metering (origin/metering/): operations per database and UTC day, storage samples, plans on
-- workspaces, spend limits and their alerts. The first `usage` table was never written.
DROP TABLE usage;

-- What a workspace may use and what it costs. NULL operations/storage_bytes/databases: no cap and
-- nothing included. Without a price, use beyond what the plan includes is refused (P6003); with
-- one, it is billed and bounded by the workspace's spend limit. `limits` are per-database limits
-- (origin/limits.py names), under each database's own overrides.
CREATE TABLE plans (
    name                          text PRIMARY KEY,
    operations                    bigint CHECK (operations >= 0),
    storage_bytes                 bigint CHECK (storage_bytes >= 0),
    databases                     integer CHECK (databases >= 0),
    monthly_price                 numeric(14, 4) NOT NULL DEFAULT 0 CHECK (monthly_price >= 0),
    price_per_million_operations  numeric(14, 4) CHECK (price_per_million_operations >= 0),
    price_per_gib_month           numeric(14, 4) CHECK (price_per_gib_month >= 0),
    graceful_stop_percent         integer CHECK (graceful_stop_percent > 100),
    limits                        jsonb NOT NULL DEFAULT '{}',
    created_at                    timestamptz NOT NULL DEFAULT now(),
    updated_at                    timestamptz NOT NULL DEFAULT now()
);
-- The seeds' free tier: 100,000 operations, 1 GiB and 10 databases a month; new workspaces get it.
INSERT INTO plans (name, operations, storage_bytes, databases) VALUES ('free', 100000, 1073741824, 10);
-- No caps and no rates: the `default` workspace's, which holds every database made before workspaces
-- had plans (moving it to `free` on upgrade would stop a deployment that outgrew it).
INSERT INTO plans (name) VALUES ('unlimited');

-- A workspace's plan and spend limits. `limits_version` changes with them, so alerts of a raised
-- limit fire again when the new one is approached.
ALTER TABLE workspaces
    ADD COLUMN plan              text NOT NULL DEFAULT 'free' REFERENCES plans (name),
    ADD COLUMN operations_limit  bigint CHECK (operations_limit >= 0),
    ADD COLUMN spend_limit       numeric(14, 4) CHECK (spend_limit >= 0),
    ADD COLUMN alert_percents    integer[] NOT NULL DEFAULT '{75}',
    ADD COLUMN webhook_url       text,
    ADD COLUMN webhook_secret    text,
    ADD COLUMN limits_version    integer NOT NULL DEFAULT 1;
UPDATE workspaces SET plan = 'unlimited';

-- The CLI and the admin API address databases by name: names are unique across workspaces.
CREATE UNIQUE INDEX databases_live_name_anywhere ON databases (name) WHERE deleted_at IS NULL;

-- Batches counted (an origin's journal segments, the edge's hit batches), so a batch delivered again
-- after a crash is counted once. Ids older than the journals could still hold are pruned.
CREATE TABLE usage_batches (
    id          text PRIMARY KEY,
    source      text NOT NULL,
    counted_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX usage_batches_counted_at ON usage_batches (counted_at);

-- Operations per database and UTC day. operations = cache_hits + database_operations.
CREATE TABLE usage_daily (
    database_id          text NOT NULL,
    day                  date NOT NULL,
    operations           bigint NOT NULL DEFAULT 0,
    cache_hits           bigint NOT NULL DEFAULT 0,
    database_operations  bigint NOT NULL DEFAULT 0,
    errors               bigint NOT NULL DEFAULT 0,
    egress_bytes         bigint NOT NULL DEFAULT 0,
    timed_operations     bigint NOT NULL DEFAULT 0,
    duration_ms_total    double precision NOT NULL DEFAULT 0,
    PRIMARY KEY (database_id, day)
);

-- Storage per database and UTC day, from the host agents' samples (one counted once: sampled_at).
CREATE TABLE storage_daily (
    database_id  text NOT NULL,
    day          date NOT NULL,
    samples      integer NOT NULL,
    bytes_sum    numeric NOT NULL,
    bytes_last   bigint NOT NULL,
    sampled_at   double precision NOT NULL,
    PRIMARY KEY (database_id, day)
);

-- Each workspace's standing against its limits; pushed to the edge until pushed_at catches up.
CREATE TABLE limit_states (
    workspace_id  text PRIMARY KEY REFERENCES workspaces (id),
    state         text NOT NULL CHECK (state IN ('ok', 'cache_only', 'stopped')),
    limit_name    text,
    message       text NOT NULL DEFAULT '',
    hint          text NOT NULL DEFAULT '',
    changed_at    timestamptz NOT NULL DEFAULT now(),
    pushed_at     timestamptz
);

-- Thresholds crossed, once per workspace, month and version of its limits; delivered as signed
-- webhooks (at least once, retried with backoff).
CREATE TABLE limit_alerts (
    id               text PRIMARY KEY,
    workspace_id     text NOT NULL REFERENCES workspaces (id),
    period           date NOT NULL,
    limits_version   integer NOT NULL,
    threshold        integer NOT NULL,
    percent          double precision NOT NULL,
    limit_name       text,
    state            text NOT NULL,
    payload          jsonb NOT NULL,
    webhook_url      text,
    created_at       timestamptz NOT NULL DEFAULT now(),
    attempts         integer NOT NULL DEFAULT 0,
    next_attempt_at  timestamptz NOT NULL DEFAULT now(),
    delivered_at     timestamptz,
    last_status      integer,
    last_error       text,
    UNIQUE (workspace_id, period, limits_version, threshold)
);
CREATE INDEX limit_alerts_due ON limit_alerts (next_attempt_at)
    WHERE delivered_at IS NULL AND webhook_url IS NOT NULL;
