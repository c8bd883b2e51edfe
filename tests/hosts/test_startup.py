"""The proxy's reading of the Postgres startup protocol, including malformed and hostile input."""

from __future__ import annotations

import itertools
import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hosts import startup
from hosts.startup import CancelRequest, GssEncRequest, SslRequest, Startup, StartupError


def test_an_ssl_request_is_recognised() -> None:
    assert startup.parse_first_message(struct.pack("!ii", 8, 80877103)) == SslRequest()


def test_a_gssenc_request_is_recognised() -> None:
    assert startup.parse_first_message(struct.pack("!ii", 8, 80877104)) == GssEncRequest()


def test_a_cancel_request_carries_the_backend_key() -> None:
    assert startup.parse_first_message(startup.cancel_request(4242, -7)) == CancelRequest(4242, -7)


def test_a_startup_message_gives_user_and_database() -> None:
    message = startup.startup_message({"user": "u_a1", "database": "t_a1", "application_name": ""})
    parsed = startup.parse_first_message(message)
    assert parsed == Startup(196608, {"user": "u_a1", "database": "t_a1", "application_name": ""})
    assert isinstance(parsed, Startup)
    assert (parsed.user, parsed.database) == ("u_a1", "t_a1")


def test_the_database_defaults_to_the_user_name() -> None:
    parsed = startup.parse_first_message(startup.startup_message({"user": "u_a1"}))
    assert isinstance(parsed, Startup) and parsed.database == "u_a1"


@pytest.mark.parametrize(
    ("message", "sqlstate", "text"),
    [
        (struct.pack("!ii", 8, 2 << 16), "0A000", "unsupported frontend protocol 2.0"),
        (startup.startup_message({"database": "x"}), "28000", "no PostgreSQL user name"),
        (struct.pack("!ii", 9, 3 << 16) + b"u", "08P01", "expected terminator"),
        (struct.pack("!ii", 13, 3 << 16) + b"user\x00", "08P01", "expected terminator"),
        (struct.pack("!ii", 16, 3 << 16) + b"user\x00\xff\x00\x00", "08P01", "UTF-8"),
        (struct.pack("!ii", 12, 80877103) + b"abcd", "0A000", "unsupported frontend protocol"),
    ],
)
def test_malformed_startup_messages_are_refused_with_a_sqlstate(
    message: bytes, sqlstate: str, text: str
) -> None:
    with pytest.raises(StartupError, match=text) as caught:
        startup.parse_first_message(message)
    assert caught.value.sqlstate == sqlstate


@pytest.mark.parametrize("length", [0, 7, -1, 10_001])
def test_impossible_lengths_are_refused_before_reading_on(length: int) -> None:
    with pytest.raises(StartupError, match="invalid length"):
        startup.first_message_length(struct.pack("!i", length))


def test_a_length_needs_four_bytes() -> None:
    assert startup.first_message_length(b"\x00\x00") is None
    assert startup.first_message_length(struct.pack("!i", 8)) == 8


def test_an_error_response_is_what_clients_expect() -> None:
    assert startup.error_response("3D000", 'database "x" does not exist') == (
        b'E\x00\x00\x00\x37SFATAL\x00VFATAL\x00C3D000\x00Mdatabase "x" does not exist\x00\x00'
    )


def server_message(kind: bytes, body: bytes) -> bytes:
    return kind + struct.pack("!i", 4 + len(body)) + body


HANDSHAKE = (
    server_message(b"R", struct.pack("!i", 0))
    + server_message(b"S", b"server_version\x0015.8\x00")
    + server_message(b"K", struct.pack("!ii", 31337, -99))
    + server_message(b"Z", b"I")
)


@given(st.lists(st.integers(min_value=1, max_value=len(HANDSHAKE) - 1), unique=True, max_size=10))
def test_the_handshake_watcher_finds_the_backend_key_however_the_bytes_are_split(cuts: list[int]) -> None:
    watcher = startup.HandshakeWatcher()
    edges = [0, *sorted(cuts), len(HANDSHAKE)]
    for start, end in itertools.pairwise(edges):
        assert not watcher.done
        watcher.feed(HANDSHAKE[start:end])
    assert (watcher.done, watcher.backend_key) == (True, (31337, -99))


@given(st.binary(max_size=300))
def test_any_bytes_either_parse_or_are_refused_cleanly(data: bytes) -> None:
    try:
        length = startup.first_message_length(data)
        if length is not None and len(data) >= length:
            startup.parse_first_message(data[:length])
    except StartupError as exc:
        assert exc.sqlstate in ("08P01", "0A000", "28000")


@given(
    st.dictionaries(
        st.text(min_size=1).filter(lambda s: "\x00" not in s),
        st.text().filter(lambda s: "\x00" not in s),
        min_size=1,
        max_size=8,
    )
)
def test_startup_parameters_round_trip(params: dict[str, str]) -> None:
    params = {"user": "u_x", **params}
    message = startup.startup_message(params)
    if len(message) > startup.MAX_STARTUP_LENGTH:
        return
    assert startup.parse_first_message(message) == Startup(196608, params)
