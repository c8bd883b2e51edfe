-- Workspaces own databases; databases live on a host; keys grant a scope on one database.
CREATE TABLE workspaces (
    id          text PRIMARY KEY,
    name        text NOT NULL UNIQUE,
    created_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE hosts (
    id          text PRIMARY KEY,
    url         text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE databases (
    id            text PRIMARY KEY,
    workspace_id  text NOT NULL REFERENCES workspaces (id),
    name          text NOT NULL,
    host_id       text NOT NULL REFERENCES hosts (id),
    instance      text NOT NULL,
    placement     text NOT NULL DEFAULT 'shared' CHECK (placement IN ('shared', 'dedicated')),
    dsn           text NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    deleted_at    timestamptz
);
-- A name can be reused once the database holding it is deleted.
CREATE UNIQUE INDEX databases_live_name ON databases (workspace_id, name) WHERE deleted_at IS NULL;

CREATE TABLE api_keys (
    id            text PRIMARY KEY,
    database_id   text NOT NULL REFERENCES databases (id),
    scope         text NOT NULL CHECK (scope IN ('read', 'read-write', 'admin')),
    key_hash      bytea NOT NULL UNIQUE,   -- sha256 of the key; the key itself is never stored
    label         text NOT NULL DEFAULT '',
    created_at    timestamptz NOT NULL DEFAULT now(),
    revoked_at    timestamptz
);
CREATE INDEX api_keys_database ON api_keys (database_id);

-- Operations per database and month; limits are checked against it.
CREATE TABLE usage (
    database_id   text NOT NULL REFERENCES databases (id),
    period        date NOT NULL,
    operations    bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (database_id, period)
);
