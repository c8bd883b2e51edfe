"""Creating a database's replication slot: when the host has none left, the error says so and what
to do, instead of the stream open failing with an unexplained server error."""

from __future__ import annotations

import asyncpg
import pytest

from origin.slots import CaptureUnavailable, ensure_slot


async def test_a_host_without_free_slots_refuses_capture_with_a_hint(pg_database: str) -> None:
    conn = await asyncpg.connect(pg_database)
    made: list[str] = []
    try:
        free = await conn.fetchval(
            "SELECT current_setting('max_replication_slots')::int - count(*) FROM pg_replication_slots"
        )
        for i in range(free):
            # Physical slots: instant to make, and they use up the same table as logical ones.
            await conn.execute("SELECT pg_create_physical_replication_slot($1)", f"filler_{i}")
            made.append(f"filler_{i}")
        with pytest.raises(CaptureUnavailable) as refused:
            await ensure_slot(pg_database, "bw_full")
        assert (refused.value.status, refused.value.code) == (503, "BW3004")
        assert "no free replication slot" in refused.value.message
        assert "max_replication_slots" in refused.value.hint
    finally:
        for slot in made:
            await conn.execute("SELECT pg_drop_replication_slot($1)", slot)
        await conn.close()
