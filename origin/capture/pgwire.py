"""Just enough of the Postgres wire protocol for a logical replication connection, on asyncio.

asyncpg cannot enter the replication sub-protocol, and a blocking driver would need a thread per
database; this client speaks startup (SCRAM-SHA-256, md5 or cleartext), simple queries, and the
CopyBoth stream that `START_REPLICATION` opens. Nothing else: no extended protocol.

TLS follows libpq's `sslmode` in the DSN: `prefer` (the default: TLS when the server offers it),
`disable`, `require` (TLS or nothing, certificate not checked), `verify-ca` (checked against
`sslrootcert`) and `verify-full` (and the host name).
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import secrets
import ssl
import struct
from dataclasses import dataclass
from urllib.parse import parse_qs, unquote, urlsplit

from bwservice import pinned

# Microseconds between the Unix epoch and Postgres's epoch (2000-01-01).
PG_EPOCH_OFFSET_US = 946_684_800_000_000
SSL_REQUEST = struct.pack("!ii", 8, 80877103)
READ_CHUNK = 256 * 1024
_INT32 = struct.Struct("!i")
SSL_MODES = ("disable", "prefer", "require", "verify-ca", "verify-full")


class WireError(Exception):
    """The server refused something; `fields` are the ErrorResponse fields by code (S, C, M, ...)."""

    def __init__(self, message: str, fields: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.fields = fields or {}

    @property
    def sqlstate(self) -> str:
        return self.fields.get("C", "")


@dataclass(frozen=True)
class Dsn:
    host: str
    port: int
    user: str
    password: str
    database: str
    sslmode: str = "prefer"
    sslrootcert: str = ""

    @classmethod
    def parse(cls, dsn: str) -> Dsn:
        parts = urlsplit(dsn)
        if parts.scheme not in ("postgres", "postgresql"):
            raise ValueError("expected a postgresql:// DSN")
        options = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        sslmode = options.get("sslmode", "prefer")
        if sslmode not in SSL_MODES:
            raise ValueError(f"sslmode is one of {', '.join(SSL_MODES)}, not {sslmode!r}")
        if sslmode.startswith("verify") and not options.get("sslrootcert"):
            raise ValueError(
                f"sslmode={sslmode} needs sslrootcert (the CA that signed the server's certificate)"
            )
        return cls(
            host=parts.hostname or "127.0.0.1",
            port=parts.port or 5432,
            user=unquote(parts.username or ""),
            password=unquote(parts.password or ""),
            database=unquote(parts.path.lstrip("/")) or unquote(parts.username or ""),
            sslmode=sslmode,
            sslrootcert=options.get("sslrootcert", ""),
        )

    def ssl_context(self) -> ssl.SSLContext:
        if self.sslmode.startswith("verify"):
            context = ssl.create_default_context(cafile=self.sslrootcert)
            context.check_hostname = self.sslmode == "verify-full"
            return context
        # prefer / require: encrypted, the certificate not checked (as libpq does without a root cert).
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        return context


def lsn_text(lsn: int) -> str:
    return f"{lsn >> 32:X}/{lsn & 0xFFFFFFFF:X}"


def parse_lsn(text: str) -> int:
    high, _, low = text.partition("/")
    return (int(high, 16) << 32) | int(low, 16)


def _fields(payload: bytes) -> dict[str, str]:
    found: dict[str, str] = {}
    for part in payload.split(b"\x00"):
        if part:
            found[chr(part[0])] = part[1:].decode("utf-8", "replace")
    return found


class _Scram:
    """RFC 5802 / 7677 client side, SCRAM-SHA-256 without channel binding."""

    def __init__(self, password: str) -> None:
        self.password = password
        self.nonce = base64.b64encode(secrets.token_bytes(18)).decode()
        self.first_bare = f"n=,r={self.nonce}"
        self.server_signature = b""

    def first(self) -> bytes:
        return ("n,," + self.first_bare).encode()

    def final(self, server_first: bytes) -> bytes:
        attrs = dict(item.split("=", 1) for item in server_first.decode().split(","))
        if not attrs["r"].startswith(self.nonce):
            raise WireError("SCRAM: the server's nonce does not extend ours")
        salted = hashlib.pbkdf2_hmac(
            "sha256", self.password.encode(), base64.b64decode(attrs["s"]), int(attrs["i"])
        )
        client_key = hmac.new(salted, b"Client Key", hashlib.sha256).digest()
        stored_key = hashlib.sha256(client_key).digest()
        without_proof = f"c=biws,r={attrs['r']}"
        message = f"{self.first_bare},{server_first.decode()},{without_proof}".encode()
        signature = hmac.new(stored_key, message, hashlib.sha256).digest()
        proof = bytes(a ^ b for a, b in zip(client_key, signature, strict=True))
        server_key = hmac.new(salted, b"Server Key", hashlib.sha256).digest()
        self.server_signature = hmac.new(server_key, message, hashlib.sha256).digest()
        return f"{without_proof},p={base64.b64encode(proof).decode()}".encode()

    def verify(self, server_final: bytes) -> None:
        attrs = dict(item.split("=", 1) for item in server_final.decode().split(","))
        if base64.b64decode(attrs.get("v", "")) != self.server_signature:
            raise WireError("SCRAM: the server's signature does not match")


class Connection:
    """One connection; `replication="database"` opens a logical replication (walsender) session."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._reader = reader
        self._writer = writer
        # What the socket gave and no message has taken yet: the stream is read in large chunks, so
        # the messages of a busy replication stream cost no await (and no read call) each.
        self._buffer = bytearray()
        self._pos = 0
        self.parameters: dict[str, str] = {}
        self.backend_pid = 0

    @classmethod
    async def connect(
        cls,
        dsn: str,
        *,
        replication: str | None = "database",
        timeout: float = 10.0,
        application_name: str = "breakwater-capture",
    ) -> Connection:
        target = Dsn.parse(dsn)
        reader, writer = await asyncio.wait_for(asyncio.open_connection(target.host, target.port), timeout)
        conn = cls(reader, writer)
        try:
            if target.sslmode != "disable":
                await asyncio.wait_for(conn._negotiate_tls(target), timeout)
            await asyncio.wait_for(conn._startup(target, replication, application_name), timeout)
        except BaseException:
            conn.abort()
            raise
        return conn

    @property
    def encrypted(self) -> bool:
        return self._writer.get_extra_info("ssl_object") is not None

    async def _negotiate_tls(self, target: Dsn) -> None:
        self._writer.write(SSL_REQUEST)
        await self._writer.drain()
        answer = await self._reader.readexactly(1)
        if answer == b"S":
            await self._writer.start_tls(target.ssl_context(), server_hostname=target.host)
        elif answer != b"N":
            raise WireError(f"the server answered the SSL request with {answer!r}")
        elif target.sslmode != "prefer":
            raise WireError(f"sslmode={target.sslmode}, but the server at {target.host} does not offer TLS")

    async def _startup(self, target: Dsn, replication: str | None, application_name: str) -> None:
        params = {
            "user": target.user,
            "database": target.database,
            "application_name": application_name,
            # Text output of values the decoder parses: ISO dates in UTC, exact floats.
            "DateStyle": "ISO",
            "TimeZone": "UTC",
            "extra_float_digits": "3",
            "client_encoding": "UTF8",
            # A walsender of the tenant's database takes its ALTER DATABASE … SET defaults too.
            **pinned.SETTINGS,
        }
        if replication:
            params["replication"] = replication
        body = struct.pack("!i", 196608) + b"".join(
            k.encode() + b"\x00" + v.encode() + b"\x00" for k, v in params.items()
        )
        self._writer.write(struct.pack("!i", len(body) + 5) + body + b"\x00")
        scram: _Scram | None = None
        while True:
            kind, payload = await self._read()
            if kind == b"R":
                code = struct.unpack("!i", payload[:4])[0]
                if code == 0:
                    continue
                if code == 3:  # cleartext
                    self._send(b"p", target.password.encode() + b"\x00")
                elif code == 5:  # md5
                    inner = hashlib.md5((target.password + target.user).encode()).hexdigest()  # noqa: S324
                    outer = hashlib.md5(inner.encode() + payload[4:8]).hexdigest()  # noqa: S324
                    self._send(b"p", b"md5" + outer.encode() + b"\x00")
                elif code == 10:  # SASL
                    mechanisms = payload[4:].split(b"\x00")
                    if b"SCRAM-SHA-256" not in mechanisms:
                        raise WireError("the server offers no SASL mechanism this client speaks")
                    scram = _Scram(target.password)
                    first = scram.first()
                    self._send(b"p", b"SCRAM-SHA-256\x00" + struct.pack("!i", len(first)) + first)
                elif code == 11 and scram is not None:
                    self._send(b"p", scram.final(payload[4:]))
                elif code == 12 and scram is not None:
                    scram.verify(payload[4:])
                else:
                    raise WireError(f"unsupported authentication request {code}")
            elif kind == b"S":
                name, value, _ = payload.split(b"\x00", 2)
                self.parameters[name.decode()] = value.decode()
            elif kind == b"K":
                self.backend_pid = struct.unpack("!i", payload[:4])[0]
            elif kind == b"Z":
                return
            elif kind == b"E":
                fields = _fields(payload)
                raise WireError(fields.get("M", "connection refused"), fields)

    async def _read(self) -> tuple[bytes, bytes]:
        buffer = self._buffer
        while len(buffer) - self._pos < 5:
            await self._fill()
        start = self._pos
        length = _INT32.unpack_from(buffer, start + 1)[0]
        if length < 4:
            raise WireError(f"a message with the impossible length {length}")
        end = start + 1 + length
        while len(buffer) < end:
            await self._fill()
            start = self._pos  # the buffer may have been compacted
            end = start + 1 + length
        self._pos = end
        return bytes(buffer[start : start + 1]), bytes(buffer[start + 5 : end])

    def buffered_copy(self) -> bytes | None:
        """The next CopyData payload if it is whole in the buffer already, taken without an await
        (the bulk of a busy stream); None otherwise, and `read_copy` reads whatever comes next."""
        buffer, start = self._buffer, self._pos
        if len(buffer) - start < 5 or buffer[start] != 0x64:  # d(ata)
            return None
        length = _INT32.unpack_from(buffer, start + 1)[0]
        end = start + 1 + length
        if length < 4 or end > len(buffer):
            return None
        self._pos = end
        return bytes(buffer[start + 5 : end])

    def has_message(self) -> bool:
        """Whether a whole message is buffered already: the next read returns without waiting."""
        available = len(self._buffer) - self._pos
        return available >= 5 and available > _INT32.unpack_from(self._buffer, self._pos + 1)[0]

    async def _fill(self) -> None:
        if self._pos:
            del self._buffer[: self._pos]
            self._pos = 0
        chunk = await self._reader.read(READ_CHUNK)
        if not chunk:
            raise asyncio.IncompleteReadError(bytes(self._buffer), None)
        self._buffer += chunk

    def _send(self, kind: bytes, payload: bytes) -> None:
        self._writer.write(kind + struct.pack("!i", len(payload) + 4) + payload)

    async def simple_query(self, sql: str) -> list[list[str | None]]:
        """Run one statement with the simple protocol; rows as text."""
        self._send(b"Q", sql.encode() + b"\x00")
        await self._writer.drain()
        rows: list[list[str | None]] = []
        error: WireError | None = None
        while True:
            kind, payload = await self._read()
            if kind == b"D":
                count = struct.unpack("!h", payload[:2])[0]
                pos = 2
                row: list[str | None] = []
                for _ in range(count):
                    size = struct.unpack("!i", payload[pos : pos + 4])[0]
                    pos += 4
                    if size < 0:
                        row.append(None)
                    else:
                        row.append(payload[pos : pos + size].decode())
                        pos += size
                rows.append(row)
            elif kind == b"E":
                fields = _fields(payload)
                error = WireError(fields.get("M", "query failed"), fields)
            elif kind == b"Z":
                if error is not None:
                    raise error
                return rows

    async def start_replication(self, command: str) -> None:
        """Send START_REPLICATION and wait for the CopyBoth response."""
        self._send(b"Q", command.encode() + b"\x00")
        await self._writer.drain()
        while True:
            kind, payload = await self._read()
            if kind == b"W":
                return
            if kind == b"E":
                fields = _fields(payload)
                # Drain up to ReadyForQuery so the connection stays usable for a retry.
                while (await self._read())[0] != b"Z":
                    pass
                raise WireError(fields.get("M", "START_REPLICATION failed"), fields)

    async def read_copy(self) -> bytes | None:
        """The next CopyData payload of the replication stream; None when the server ends it."""
        while True:
            kind, payload = await self._read()
            if kind == b"d":
                return payload
            if kind in (b"c", b"C", b"Z"):
                return None
            if kind == b"E":
                fields = _fields(payload)
                raise WireError(fields.get("M", "replication stream failed"), fields)
            # NoticeResponse ('N') and ParameterStatus ('S') may arrive at any time.

    def send_status(self, flushed: int, *, now_us: int, reply: bool = False) -> None:
        """Standby status update: everything up to `flushed` is durably stored downstream."""
        pg_now = now_us - PG_EPOCH_OFFSET_US
        payload = b"r" + struct.pack("!QQQqB", flushed, flushed, flushed, pg_now, 1 if reply else 0)
        self._send(b"d", payload)

    async def drain(self) -> None:
        await self._writer.drain()

    def abort(self) -> None:
        self._writer.transport.abort()

    async def close(self) -> None:
        try:
            self._send(b"X", b"")
            self._writer.close()
            await asyncio.wait_for(self._writer.wait_closed(), 2)
        except (OSError, TimeoutError, ConnectionError):
            self.abort()
