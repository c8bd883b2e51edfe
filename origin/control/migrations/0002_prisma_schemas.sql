-- Prisma schemas uploaded by Prisma 6 clients (PUT /{clientVersion}/{hash}/schema), per database and
-- keyed by the hash the client computed (sha256 hex of the base64 body), so every origin process can
-- answer a client whose schema another process received.
CREATE TABLE prisma_schemas (
    database_id  text NOT NULL REFERENCES databases (id) ON DELETE CASCADE,
    hash         text NOT NULL,
    source       text NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    used_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (database_id, hash)
);
