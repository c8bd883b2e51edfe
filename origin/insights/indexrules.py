"""The index rules: a shape scanning a large table without an index (with the index to make and,
through hypopg, what it would save), and indexes that duplicate a key or were never used."""

from __future__ import annotations

from typing import Any

from ..engine.quoting import table as qualified
from .catalog import Catalog, Index
from .figures import ShapeFigures
from .recommendations import Explained, Recommendation, byte_size, percent, round3

LARGE_TABLE_ROWS = 10_000  # a sequential scan over fewer rows is cheap enough
UNUSED_INDEX_TABLE_SCANS = 1_000  # the table was read this often and the index never


def unindexed(f: ShapeFigures, explained: Explained, catalog: Catalog) -> list[Recommendation]:
    scan, proposed = explained.scan, explained.proposal
    if scan is None or proposed is None:
        return []
    table = catalog.table(scan.schema, scan.table)
    rows = table.rows if table else 0
    evidence: dict[str, Any] = {
        "calls": f.calls,
        "avg_ms": round3(f.avg_ms),
        "total_ms": round3(f.duration_ms),
        "plan": {
            "node": scan.node,
            "table": f"{scan.schema}.{scan.table}",
            "table_rows": rows,
            "filter": scan.filter,
            "sort": scan.sort_keys,
            "cost": explained.plan.cost,
        },
    }
    estimate: dict[str, Any] = {"cost_before": explained.plan.cost}
    if proposed.trigram:
        return [
            Recommendation(
                "leading_wildcard",
                f"`contains`/`endsWith` on {scan.table} scans all {rows} rows",
                evidence,
                "A LIKE pattern starting with % cannot use a btree index; a trigram index finds the "
                "matching rows without reading the table.",
                "CREATE EXTENSION IF NOT EXISTS pg_trgm; " + proposed.statement() + ";",
                f.shape,
                f.model,
                f.action,
                {**estimate, "hypopg": "hypopg cannot make GIN indexes: no cost after"},
            )
        ]
    if explained.after is not None:
        after = explained.after.cost
        estimate.update(
            cost_after=after,
            cost_ratio=round(after / explained.plan.cost, 4) if explained.plan.cost else None,
            uses_index=not explained.after.scans,
        )
        if explained.after.scans and after >= explained.plan.cost:
            return []  # Postgres would not use the index: not worth proposing
        saved = f.duration_ms * (1 - after / explained.plan.cost) if explained.plan.cost else 0.0
        estimate["time_saved_ms_in_window"] = round3(saved)
        gain = (
            f"Plan cost {explained.plan.cost:g} → {after:g} with the index (hypopg): "
            f"about {percent(1 - after / explained.plan.cost)} less work per call."
        )
    else:
        gain = f"Each call reads all {rows} rows of {scan.table}; an index scan reads the matching ones."
        estimate["hypopg"] = "not available: no cost after"
    return [
        Recommendation(
            "unindexed_filter" if scan.filter else "unindexed_order",
            f"{f.model or scan.table}.{f.action} scans {scan.table} ({rows} rows) without an index",
            evidence,
            gain,
            proposed.statement() + ";",
            f.shape,
            f.model,
            f.action,
            estimate,
        )
    ]


def index_hygiene(catalog: Catalog) -> list[Recommendation]:
    found: list[Recommendation] = []
    by_table: dict[tuple[str, str], list[Index]] = {}
    for index in catalog.indexes:
        by_table.setdefault((index.schema, index.table), []).append(index)
    for (schema, name), indexes in by_table.items():
        table = catalog.table(schema, name)
        keys = [i for i in indexes if (i.unique or i.primary) and i.plain]
        for index in indexes:
            if index.unique or index.primary:
                continue
            twin = next((k for k in keys if index.plain and k.columns == index.columns), None)
            drop = f"DROP INDEX CONCURRENTLY {qualified(schema, index.name)};"
            if twin is not None:
                found.append(
                    Recommendation(
                        "duplicate_index",
                        f"Index {index.name} duplicates {twin.name}",
                        {"index": index.definition, "duplicates": twin.definition, "bytes": index.bytes},
                        f"{byte_size(index.bytes)} less to store and one index less to update "
                        "on every write.",
                        drop,
                        estimate={"bytes": index.bytes},
                    )
                )
            elif (
                index.scans == 0
                and table is not None
                and table.seq_scans + table.index_scans >= UNUSED_INDEX_TABLE_SCANS
            ):
                found.append(
                    Recommendation(
                        "unused_index",
                        f"Index {index.name} was never used",
                        {
                            "index": index.definition,
                            "index_scans": 0,
                            "table_reads": table.seq_scans + table.index_scans,
                            "bytes": index.bytes,
                        },
                        f"{byte_size(index.bytes)} less to store and one index less to update "
                        "on every write.",
                        drop,
                        estimate={"bytes": index.bytes},
                    )
                )
    return found
