-- Query insights (origin/insights/): statistics per database and query shape, never values.
-- A shape is the engine's id of a query without its values. `sql` is the engine's own SQL for a
-- compiled Prisma operation ($n placeholders, never values); NULL for raw SQL and Prisma 7 plans,
-- whose text is the tenant's and may hold literals. At most `insights.stats.MAX_SHAPES` shapes per
-- database; the rest are counted under the shape '~other'. Shapes unseen for 8 days are pruned.
CREATE TABLE insight_shapes (
    database_id  text NOT NULL,
    shape        text NOT NULL,
    protocol     text,
    model        text,
    action       text NOT NULL,
    sql          text,
    facts        jsonb NOT NULL DEFAULT '{}',
    first_seen   timestamptz NOT NULL,
    last_seen    timestamptz NOT NULL,
    PRIMARY KEY (database_id, shape)
);
CREATE INDEX insight_shapes_last_seen ON insight_shapes (last_seen);

-- Figures per shape and time bucket: 5-minute buckets (width 300, kept 2 hours) for the last hour,
-- hourly buckets (width 3600, kept 8 days) for the last day and week. Counts are added, maxima
-- kept, `latency` is a histogram over `insights.stats.LATENCY_BOUNDS_MS`, `would_hit` the reads
-- an edge cache entry of each of `insights.notes.TTLS` would have served.
CREATE TABLE insight_buckets (
    database_id    text NOT NULL,
    shape          text NOT NULL,
    width          integer NOT NULL,
    start          timestamptz NOT NULL,
    calls          bigint NOT NULL DEFAULT 0,
    errors         bigint NOT NULL DEFAULT 0,
    timeouts       bigint NOT NULL DEFAULT 0,
    tx_expired     bigint NOT NULL DEFAULT 0,
    timed          bigint NOT NULL DEFAULT 0,
    duration_ms    double precision NOT NULL DEFAULT 0,
    duration_max   double precision NOT NULL DEFAULT 0,
    latency        bigint[] NOT NULL DEFAULT '{}',
    rows_known     bigint NOT NULL DEFAULT 0,
    rows           bigint NOT NULL DEFAULT 0,
    rows_max       bigint NOT NULL DEFAULT 0,
    bytes          bigint NOT NULL DEFAULT 0,
    bytes_max      bigint NOT NULL DEFAULT 0,
    cache_hits     bigint NOT NULL DEFAULT 0,
    cache_stale    bigint NOT NULL DEFAULT 0,
    cache_shared   bigint NOT NULL DEFAULT 0,
    cache_bytes    bigint NOT NULL DEFAULT 0,
    bursts         bigint NOT NULL DEFAULT 0,
    burst_calls    bigint NOT NULL DEFAULT 0,
    burst_max      bigint NOT NULL DEFAULT 0,
    skip_max       bigint NOT NULL DEFAULT 0,
    reads          bigint NOT NULL DEFAULT 0,
    would_hit      bigint[] NOT NULL DEFAULT '{}',
    PRIMARY KEY (database_id, shape, width, start)
);
CREATE INDEX insight_buckets_start ON insight_buckets (width, start);
