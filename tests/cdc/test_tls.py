"""The replication client over TLS: libpq's sslmode semantics against a Postgres that offers TLS
(a self-signed certificate made here with openssl) and one that does not."""

from __future__ import annotations

import subprocess
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pytest

from hosts.postgres import PostgresInstance
from origin.capture.pgwire import Connection, Dsn, WireError


def _self_signed(folder: Path) -> tuple[Path, Path]:
    cert, key = folder / "server.crt", folder / "server.key"
    subprocess.run(
        [
            "openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
            "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost",
            "-keyout", str(key), "-out", str(cert),
        ],
        check=True,
        capture_output=True,
    )  # fmt: skip
    return cert, key


@pytest.fixture
async def tls_postgres(postgres: PostgresInstance) -> AsyncIterator[Path]:
    """The session's Postgres with TLS on for the test (settings reload; no restart); yields the CA."""
    cert, key = _self_signed(postgres.data_dir)
    for path in (cert, key):
        path.chmod(0o600)
        postgres.user.own(path)
    admin = await asyncpg.connect(postgres.dsn(), ssl=False)
    try:
        await admin.execute(f"ALTER SYSTEM SET ssl_cert_file = '{cert}'")
        await admin.execute(f"ALTER SYSTEM SET ssl_key_file = '{key}'")
        await admin.execute("ALTER SYSTEM SET ssl = on")
        await admin.execute("SELECT pg_reload_conf()")
        yield cert
    finally:
        await admin.execute("ALTER SYSTEM RESET ssl")
        await admin.execute("ALTER SYSTEM RESET ssl_cert_file")
        await admin.execute("ALTER SYSTEM RESET ssl_key_file")
        await admin.execute("SELECT pg_reload_conf()")
        await admin.close()


async def ssl_in_use(conn: Connection) -> str | None:
    rows = await conn.simple_query("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()")
    return rows[0][0]


async def test_replication_sessions_use_tls_when_the_server_offers_it(
    postgres: PostgresInstance, tls_postgres: Path
) -> None:
    dsn = postgres.dsn()
    for query in ("", "?sslmode=require", f"?sslmode=verify-ca&sslrootcert={tls_postgres}"):
        conn = await Connection.connect(dsn + query)
        try:
            assert conn.encrypted and await ssl_in_use(conn) == "t"
        finally:
            await conn.close()
    plain = await Connection.connect(dsn + "?sslmode=disable")
    try:
        assert not plain.encrypted and await ssl_in_use(plain) == "f"
    finally:
        await plain.close()


async def test_a_certificate_that_does_not_check_out_is_refused(
    postgres: PostgresInstance, tls_postgres: Path, tmp_path: Path
) -> None:
    other_ca, _ = _self_signed(tmp_path)
    with pytest.raises(OSError, match="CERTIFICATE_VERIFY_FAILED"):
        await Connection.connect(postgres.dsn() + f"?sslmode=verify-ca&sslrootcert={other_ca}")
    # verify-full checks the name too: the certificate says localhost, the DSN 127.0.0.1.
    with pytest.raises(OSError, match="CERTIFICATE_VERIFY_FAILED"):
        await Connection.connect(postgres.dsn() + f"?sslmode=verify-full&sslrootcert={tls_postgres}")


async def test_require_refuses_a_server_without_tls(postgres: PostgresInstance) -> None:
    with pytest.raises(WireError, match="does not offer TLS"):
        await Connection.connect(postgres.dsn() + "?sslmode=require")
    conn = await Connection.connect(postgres.dsn())  # prefer: plain when TLS is not offered
    try:
        assert not conn.encrypted
    finally:
        await conn.close()


@pytest.mark.parametrize("query", ["?sslmode=allow-ish", "?sslmode=verify-ca"])
def test_bad_ssl_options_are_refused_before_connecting(query: str) -> None:
    with pytest.raises(ValueError, match="sslmode"):
        Dsn.parse("postgresql://u:p@127.0.0.1:5432/db" + query)
