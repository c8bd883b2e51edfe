-- Several hosts (issue 18). Host agents register themselves (POST /_bw/hosts/report, with the
-- registration token) and report their capacity every few seconds; the control plane places new
-- databases by it, and an operator may cordon a host (no new databases) or drain it (its databases
-- move to other hosts). 0006 and 0007 are taken by metering and the console (other branches).
ALTER TABLE hosts
    ADD COLUMN token       text,            -- the agent's own bearer token (bound at its first report)
    ADD COLUMN state       text NOT NULL DEFAULT 'active'
        CHECK (state IN ('active', 'cordoned', 'draining', 'drained')),
    ADD COLUMN capacity    jsonb NOT NULL DEFAULT '{}'::jsonb,  -- the agent's last report (hosts/capacity.py)
    ADD COLUMN proxy       text,            -- host:port of its wake-on-connect proxy (in tenants' DSNs)
    ADD COLUMN last_seen   timestamptz;     -- its last report; NULL: never reported (an older origin made it)

-- Set while the database moves to another host: every origin answers its requests with BW3011
-- (and a Retry-After) until the move ends one way or the other.
ALTER TABLE databases ADD COLUMN moving_since timestamptz;

-- A database moved between shared clusters is decoded from a new replication slot in another WAL:
-- event positions are the commit LSN plus this base, chosen at the move so that they keep rising.
-- `generation` changes at every move: the origin leading the capture restarts its reader then.
ALTER TABLE capture_databases
    ADD COLUMN lsn_base   bigint NOT NULL DEFAULT 0,
    ADD COLUMN generation integer NOT NULL DEFAULT 0;

-- One row per move of a database from one host to another (origin/control/moves.py). A row in
-- state 'running' whose mover died (its advisory lock is free) is finished or undone by any origin.
CREATE TABLE moves (
    id           text PRIMARY KEY,
    database_id  text NOT NULL REFERENCES databases (id),
    source       text NOT NULL REFERENCES hosts (id),
    target       text NOT NULL REFERENCES hosts (id),
    state        text NOT NULL DEFAULT 'running' CHECK (state IN ('running', 'done', 'failed')),
    step         text NOT NULL DEFAULT 'starting',   -- how far it got (for recovery and for operators)
    fence_lsn    text,                                -- the source's WAL position once it was fenced
    error        text,
    started_at   timestamptz NOT NULL DEFAULT now(),
    finished_at  timestamptz,
    unavailable_ms integer                            -- how long tenants were refused (fence to cutover)
);
CREATE UNIQUE INDEX moves_one_running ON moves (database_id) WHERE state = 'running';
CREATE INDEX moves_recent ON moves (started_at);
