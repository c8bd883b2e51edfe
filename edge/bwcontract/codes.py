"""Every error code Breakwater answers with, in one place: its HTTP status and what it means.

An error's body is `{"code", "message", "hint"?, "meta"?}` and its code is also in the
`Prisma-Error-Code` header. Codes are Prisma's where Prisma has one (its clients map them to their
own error classes), otherwise Breakwater's `BWnnnn`, grouped by range: 1xxx the request, 2xxx
authentication, 3xxx what is behind the service (the cache's state, capture, the pool), 4xxx change
streams. A code is never reused: one that goes out of use stays here, marked retired.

A member is the code's text itself (`Code.UNIQUE_CONSTRAINT == "P2002"`), so it goes into JSON and
headers as it is. The README's table of codes is generated from this list (`scripts/error-codes`).
"""

from __future__ import annotations

from enum import StrEnum, unique


@unique
class Code(StrEnum):
    status: int  # the HTTP status it is answered with
    meaning: str
    retired: bool

    def __new__(cls, code: str, status: int, meaning: str, retired: bool = False) -> Code:
        member = str.__new__(cls, code)
        member._value_ = code
        member.status = status
        member.meaning = meaning
        member.retired = retired
        return member

    # --- Prisma's codes ------------------------------------------------------------------------
    VALUE_TOO_LONG = "P2000", 400, "A value is too long for its column's type."
    UNIQUE_CONSTRAINT = "P2002", 400, "A unique constraint failed (`meta.target` names the fields)."
    FOREIGN_KEY_CONSTRAINT = "P2003", 400, "A foreign key constraint failed."
    CHECK_CONSTRAINT = (
        "P2004",
        400,
        "A check constraint failed: now P2039 with SQLSTATE 23514, as Prisma's driver adapter reports it.",
        True,
    )
    INVALID_VALUE = "P2007", 400, "The database cannot read a value as its column's type (SQLSTATE 22P02)."
    QUERY_INVALID = "P2009", 400, "The query does not fit the schema; no SQL was sent."
    RAW_QUERY_FAILED = "P2010", 400, "A raw query failed (`meta.code` is the database's SQLSTATE)."
    NULL_CONSTRAINT = "P2011", 400, "A null constraint failed."
    REQUIRED_RELATION = "P2014", 400, "The change would break a required relation."
    RECORDS_NOT_CONNECTED = "P2017", 400, "The records of a relation are not connected."
    CONNECTED_RECORDS_MISSING = "P2018", 400, "Records a connect required were not found."
    INPUT_ERROR = (
        "P2019",
        400,
        "The arguments do not go together (a cursor over an unstable order, a groupBy order outside `by`).",
    )
    VALUE_OUT_OF_RANGE = "P2020", 400, "A value is out of range for its column's type."
    TABLE_MISSING = "P2021", 400, "A table the query names does not exist in the database."
    COLUMN_MISSING = "P2022", 400, "A column the query names does not exist in the database."
    VALUE_INCONSISTENT = (
        "P2023",
        400,
        "A value is not one the database accepts here (an unknown isolation level).",
    )
    POOL_TIMEOUT = (
        "P2024",
        503,
        "No connection to the database became free in time (`BREAKWATER_POOL_WAIT_SECONDS`).",
    )
    RECORD_NOT_FOUND = "P2025", 400, "A record the operation needs was not found."
    TRANSACTION = (
        "P2028",
        409,
        "Transaction API error: the transaction ended (timeout, rollback, revoked key, reclaimed), is "
        "unknown, or asks for more time than the database allows.",
    )
    WRITE_CONFLICT = "P2034", 400, "A write conflict or a deadlock: retry the transaction."
    TOO_MANY_CONNECTIONS = "P2037", 400, "The database has too many connections open (SQLSTATE 53300)."
    DATABASE_ERROR = (
        "P2039",
        400,
        "The database refused the query for a reason Prisma has no code for (`meta.code` is its SQLSTATE).",
    )
    UNEXPECTED = (
        "P6000",
        500,
        "An unexpected failure (`meta.requestId` names the request in the log); 502 when the edge cannot "
        "reach the origin.",
    )
    KEY_INVALID = (
        "P6002",
        401,
        "The API key is missing, malformed, not signed by this deployment, revoked, or its database is "
        "deleted.",
    )
    PLAN_LIMIT = (
        "P6003",
        402,
        "The workspace reached a limit of its plan or its spend limit: queries are paused (or, with the "
        "plan's graceful step, only cache hits are served); the message names the limit and how to lift it.",
    )
    QUERY_TIMEOUT = "P6004", 504, "The query ran past the database's `query_timeout_ms` and was cancelled."
    UPSTREAM = "P6008", 502, "The database or the host agent failed in a way the caller cannot fix."
    RESPONSE_TOO_LARGE = "P6009", 400, "The response is larger than the database's `response_bytes`."

    # --- 1xxx: the request -----------------------------------------------------------------------
    BAD_REQUEST = (
        "BW1001",
        400,
        "The body is not JSON (UTF-8, finite numbers, no unpaired surrogates) or not what the route takes.",
    )
    STREAM_PARAMETER = "BW1002", 400, "A parameter of `GET /v1/stream` is invalid."
    STREAM_ACK = (
        "BW1003",
        400,
        "A stream's acknowledgement names an offset it was not sent (a WebSocket message, not a status).",
    )
    EVENT_BATCH = "BW1004", 400, "An event batch or part pushed to the edge is malformed (origin to edge)."
    SCHEMA_UPLOAD = (
        "BW1101",
        400,
        "An uploaded Prisma schema does not match its hash or does not parse (`meta` has the line and "
        "column).",
    )
    PLAN_UNSUPPORTED = "BW1102", 400, "A Prisma 7 plan holds a node or option this server does not know."
    PLAN_INVALID = "BW1103", 400, "A Prisma 7 plan is malformed."
    CACHE_TAG = "BW1201", 400, "A cache tag is not 1 to 64 letters, digits and underscores."
    CACHE_TAGS_TOO_MANY = "BW1202", 400, "A query or an invalidation names more cache tags than allowed."
    CACHE_CONTROL = "BW1203", 400, "A cache strategy's ttl or swr is not a whole number of seconds."
    INVALIDATION = "BW1204", 400, 'An invalidation body is not `{tags: [...] | "all", models?: [...]}`.'
    JSON_TOO_DEEP = "BW1301", 400, "A JSON body nests more than 256 levels."
    PLAN_TOO_DEEP = "BW1302", 400, "A Prisma 7 plan nests more than 100 levels."
    BATCH_TOO_LARGE = "BW1303", 400, "A batch holds more than 5,000 queries."
    NOT_FOUND = "BW1404", 404, "No such route, database, table, key or instance."
    ALREADY_EXISTS = "BW1409", 409, "A database, workspace or plan of that name (or id) exists already."
    HOST_STATE = (
        "BW1410",
        409,
        "The host cannot do that as it stands (draining, cordoned, unreachable, or still holding "
        "databases), or the database is already there.",
    )
    BODY_TOO_LARGE = (
        "BW1413",
        413,
        "The body is larger than the edge's, the origin's or the database's `request_bytes` (or "
        "`schema_bytes`) limit.",
    )
    WEBSOCKET_REQUIRED = "BW1426", 426, "`GET /v1/stream` is a WebSocket endpoint."
    TOO_MANY_WAITING = (
        "BW1429",
        429,
        "The database's line of requests waiting for a connection is full (`waiting_requests`; see "
        "`Retry-After`).",
    )

    # --- 2xxx: authentication --------------------------------------------------------------------
    UNSIGNED = (
        "BW2001",
        401,
        "A request to the origin (or an internal route of the edge) is not signed by the edge, or its "
        "signature does not fit it.",
    )
    TOKEN_INVALID = (
        "BW2002",
        401,
        "The operator's admin token, or the host agent's token, is missing or wrong.",
    )
    READ_ONLY = "BW2003", 403, "A read-only key cannot do this (a write, or an operator's action)."
    REPLAYED = "BW2010", 409, "A signed request was seen already (a replay)."
    SIGNED_BEFORE_START = (
        "BW2011",
        401,
        "A signature is older than the origin process: the edge should sign again.",
    )
    REPLAY_GUARD_FULL = "BW2012", 503, "The origin remembers as many signatures as it can; retry shortly."
    HOST_CLAIMED = (
        "BW2013",
        409,
        "A host agent reported under a host id the control plane knows with another agent token "
        "(`breakwater host reset-token` lets a replaced agent take it over).",
    )
    CONSOLE_SESSION = (
        "BW2020",
        401,
        "The console session is missing, expired or ended (signed out, its key revoked, the admin token "
        "changed), or the token or key given to sign in is not valid.",
    )
    CONSOLE_FORGED = (
        "BW2021",
        403,
        "A console form came without its CSRF token, with another session's, or from another site.",
    )
    CONSOLE_NOT_ALLOWED = (
        "BW2022",
        403,
        "The console page or action is the operator's, or an admin key's of the database; the key signed "
        "in with has a narrower scope.",
    )

    # --- 3xxx: behind the service ----------------------------------------------------------------
    CACHE_VERSIONS = (
        "BW3001",
        503,
        "The cache's tag versions could not be updated, so nothing was invalidated.",
    )
    CAPTURE_REFUSED = (
        "BW3002",
        409,
        "Change capture cannot be turned on as the database stands (the reason says what to change).",
    )
    RECLAIMED = (
        "BW3003",
        503,
        "A request was stopped to give its connection to a database below its fair share.",
    )
    CAPTURE_UNAVAILABLE = (
        "BW3004",
        503,
        "Change capture has no replication slot to use (the cluster's slots are all taken).",
    )

    HOST_UNAVAILABLE = (
        "BW3010",
        503,
        "The database's host cannot be reached (`meta.host` names it); other hosts' databases are "
        "unaffected. Retry after `Retry-After`.",
    )
    DATABASE_MOVING = (
        "BW3011",
        503,
        "The database is moving to another host (a few seconds); retry after `Retry-After`. Its URL "
        "and keys stay the same.",
    )
    NO_HOST = (
        "BW3012",
        503,
        "No host can take a new database now (every host is full, cordoned, draining or unreachable).",
    )
    ORIGIN_LOST = (
        "BW3101",
        503,
        "The origin handling a write stopped before it answered: the write may or may not have run, "
        "and the edge does not send it again (reads are sent to another origin).",
    )

    # --- 4xxx: change streams --------------------------------------------------------------------
    STREAM_TAKEN_OVER = (
        "BW4001",
        409,
        "Another consumer connected to this named stream (the client's, from close code 4001).",
    )


_BY_TEXT: dict[str, Code] = {member.value: member for member in Code}


def lookup(text: str) -> Code:
    """The registered code spelled `text`; KeyError when there is none."""
    return _BY_TEXT[text]
