-- Databases whose changes are captured into the edge's event queue. Exactly one origin process reads
-- each (a session advisory lock in this database elects it); the slot lives on the tenant's host.
CREATE TABLE capture_databases (
    database_id  text PRIMARY KEY REFERENCES databases (id),
    dsn          text NOT NULL,        -- the host's capture role on the tenant database
    slot         text NOT NULL,
    publication  text NOT NULL,
    enabled_at   timestamptz NOT NULL DEFAULT now()
);
