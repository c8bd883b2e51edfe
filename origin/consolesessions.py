"""Console sessions: who a browser is, kept server-side in the control plane.

Signing in exchanges the admin token or an API key for a random session token, which the browser
holds in an HttpOnly, SameSite=Strict cookie scoped to `/console`; the control plane keeps only the
token's SHA-256, so a copy of the table opens no session. A session ends when it expires (a fixed
lifetime from sign-in, and an idle time), when its holder signs out, when its key is revoked or its
database deleted (checked on every request, see gate.py), or, for the operator, when the admin token
changes (the session remembers the digest of the token it was opened with).

Forms carry a CSRF token derived from the session token (an HMAC of it), so it needs no storage, is
different for every session, and is worthless without the cookie it belongs to.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import secrets
from dataclasses import dataclass

import asyncpg

from bwcontract.keys import KeyClaims

COOKIE = "bw_console"
LOGIN_COOKIE = "bw_console_login"  # the sign-in form's own CSRF token (there is no session yet)
LOGIN_COOKIE_SECONDS = 600
PATH = "/console"
_TOUCH_AFTER = dt.timedelta(seconds=30)  # seen_at is written at most this often per session


def digest(text: str) -> bytes:
    return hashlib.sha256(text.encode()).digest()


def new_login_token() -> str:
    return secrets.token_urlsafe(24)


def csrf_token(session_token: str) -> str:
    """The token a session's forms carry: an HMAC of the session token, so it cannot be derived
    without the cookie and needs no storage."""
    mac = hmac.new(session_token.encode(), b"breakwater console csrf", hashlib.sha256).digest()
    return base64.urlsafe_b64encode(mac).decode().rstrip("=")


def same_token(given: str, expected: str) -> bool:
    return bool(given) and hmac.compare_digest(given.encode(), expected.encode())


def cookie_header(name: str, value: str, max_age: int, secure: bool) -> str:
    """A Set-Cookie value the page's scripts cannot read and other sites' requests do not carry."""
    parts = [f"{name}={value}", f"Path={PATH}", f"Max-Age={max_age}", "HttpOnly", "SameSite=Strict"]
    if secure:
        parts.append("Secure")
    return "; ".join(parts)


@dataclass(frozen=True)
class Session:
    operator: bool
    admin_digest: bytes | None
    key_id: str | None
    database_id: str | None
    scope: str | None
    expires_at: dt.datetime


_COLUMNS = "operator, admin_digest, key_id, database_id, scope, expires_at"


class SessionStore:
    def __init__(self, pool: asyncpg.Pool, lifetime_seconds: float, idle_seconds: float) -> None:
        self._pool = pool
        self.lifetime = dt.timedelta(seconds=lifetime_seconds)
        self.idle = dt.timedelta(seconds=idle_seconds)

    async def open_operator(self, admin_token: str) -> str:
        return await self._open(True, digest(admin_token), None)

    async def open_key(self, claims: KeyClaims) -> str:
        return await self._open(False, None, claims)

    async def _open(self, operator: bool, admin_digest: bytes | None, claims: KeyClaims | None) -> str:
        token = secrets.token_urlsafe(32)
        async with self._pool.acquire() as conn:
            # Sign-ins are rare: a good moment to forget the sessions that ended on their own.
            await conn.execute(
                "DELETE FROM console_sessions WHERE expires_at < now() OR seen_at < now() - $1::interval",
                self.idle,
            )
            await conn.execute(
                "INSERT INTO console_sessions"
                " (token_hash, operator, admin_digest, key_id, database_id, scope, expires_at)"
                " VALUES ($1, $2, $3, $4, $5, $6, now() + $7::interval)",
                digest(token),
                operator,
                admin_digest,
                claims.key_id if claims else None,
                claims.database_id if claims else None,
                claims.scope if claims else None,
                self.lifetime,
            )
        return token

    async def find(self, token: str, seen: bool = True) -> Session | None:
        """The live session of `token` (None: unknown, expired or idle too long); notes it was seen
        (unless `seen` is False: a page refreshing itself is not someone using it)."""
        if not token or len(token) > 128:
            return None
        row = await self._pool.fetchrow(
            f"SELECT {_COLUMNS}, seen_at < now() - $3::interval AS stale FROM console_sessions"
            " WHERE token_hash = $1 AND expires_at > now() AND seen_at > now() - $2::interval",
            digest(token),
            self.idle,
            _TOUCH_AFTER,
        )
        if row is None:
            return None
        if seen and row["stale"]:
            await self._pool.execute(
                "UPDATE console_sessions SET seen_at = now() WHERE token_hash = $1", digest(token)
            )
        return Session(**{k: v for k, v in dict(row).items() if k != "stale"})

    async def end(self, token: str) -> None:
        await self._pool.execute("DELETE FROM console_sessions WHERE token_hash = $1", digest(token))

    async def end_key(self, key_id: str) -> int:
        """End every session opened with a key (it was revoked); returns how many."""
        ended = await self._pool.fetch("DELETE FROM console_sessions WHERE key_id = $1 RETURNING 1", key_id)
        return len(ended)
