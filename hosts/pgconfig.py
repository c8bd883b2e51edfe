"""What every Postgres instance of a host is configured with: its server settings (what the log may
hold, a small footprint with logical decoding, the fast settings for throwaway data) and its
pg_hba.conf."""

from __future__ import annotations

# What the server log may hold: never statements or their parameters (tenant data), and errors
# without their DETAIL/CONTEXT lines (which quote rows and values). The log is the operator's, 0600.
LOG_SETTINGS: dict[str, str] = {
    "log_statement": "none",
    "log_min_duration_statement": "-1",
    "log_min_error_statement": "panic",
    "log_parameter_max_length": "0",
    "log_parameter_max_length_on_error": "0",
    "log_error_verbosity": "terse",
}
# Small footprint, logical decoding on (change capture needs it), loopback only.
BASE_SETTINGS: dict[str, str] = {
    "listen_addresses": "127.0.0.1",
    "shared_buffers": "16MB",
    "max_connections": "100",
    "wal_level": "logical",
    "max_wal_senders": "10",
    "max_replication_slots": "10",
    "dynamic_shared_memory_type": "posix",
    "huge_pages": "off",
    "logging_collector": "off",
    "log_min_messages": "warning",
    "log_line_prefix": "%m [%p] ",
    "timezone": "UTC",
    "password_encryption": "scram-sha-256",
    **LOG_SETTINGS,
    # A backend whose client went away (the origin ended a session whose cancelled statement would not
    # stop) notices within a second, even mid-statement, instead of at its next write.
    "client_connection_check_interval": "1s",
}
# For tests and throwaway dev data: fast. A killed process loses at most the commits of the last few
# hundred milliseconds (synchronous_commit off; the OS keeps what was written); power loss, more.
FAST_SETTINGS: dict[str, str] = {"fsync": "off", "synchronous_commit": "off", "full_page_writes": "off"}


def hba(tcp_users: str) -> str:
    """pg_hba.conf: every role on the Unix socket (its directory is private to the service user,
    so only the host's own processes reach it), `tcp_users` on loopback TCP, and no physical
    replication for anyone (logical replication connections match these database lines, not the
    `replication` keyword, so change capture needs no line of its own)."""
    return f"local all all scram-sha-256\nhost all {tcp_users} 127.0.0.1/32 scram-sha-256\n"
