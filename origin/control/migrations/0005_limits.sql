-- Operator overrides of a database's limits (origin/limits.py); NULL means the default
-- (BREAKWATER_LIMIT_* in the origin's environment). A row exists once an operator set something.
CREATE TABLE database_limits (
    database_id                     text PRIMARY KEY REFERENCES databases (id),
    query_timeout_ms                integer CHECK (query_timeout_ms > 0),
    transaction_timeout_ms          integer CHECK (transaction_timeout_ms > 0),
    idle_in_transaction_timeout_ms  integer CHECK (idle_in_transaction_timeout_ms > 0),
    response_bytes                  bigint CHECK (response_bytes > 0),
    request_bytes                   bigint CHECK (request_bytes > 0),
    schema_bytes                    bigint CHECK (schema_bytes > 0),
    waiting_requests                integer CHECK (waiting_requests > 0),
    updated_at                      timestamptz NOT NULL DEFAULT now()
);
