-- Console sessions (origin/consolesessions.py). A browser holds a random token in an HttpOnly cookie;
-- only its SHA-256 is kept. A session is the operator's, tied to the admin token it signed in with
-- (by digest: a new admin token ends it), or one API key's (revoking the key ends it).
CREATE TABLE console_sessions (
    token_hash    bytea PRIMARY KEY,
    operator      boolean NOT NULL,
    admin_digest  bytea,
    key_id        text REFERENCES api_keys (id),
    database_id   text REFERENCES databases (id),
    scope         text CHECK (scope IN ('read', 'read-write', 'admin')),
    created_at    timestamptz NOT NULL DEFAULT now(),
    seen_at       timestamptz NOT NULL DEFAULT now(),
    expires_at    timestamptz NOT NULL,
    CHECK (CASE WHEN operator THEN admin_digest IS NOT NULL AND key_id IS NULL
                ELSE key_id IS NOT NULL AND database_id IS NOT NULL AND scope IS NOT NULL END)
);
CREATE INDEX console_sessions_key ON console_sessions (key_id);
CREATE INDEX console_sessions_expiry ON console_sessions (expires_at);
