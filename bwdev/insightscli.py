"""The CLI's `insights` command: a database's top query shapes and the recommendations to speed them
up (origin/insights/), as a table and a list."""

from __future__ import annotations

import argparse
import json
from typing import Any

from .cliutil import call, emit, table


def cmd_insights(args: argparse.Namespace) -> None:
    result = call(args, "GET", f"/admin/databases/{args.name}/insights?window={args.window}")
    emit(args, result, insights_text(result, args.top))


def insights_text(result: dict[str, Any], top: int) -> str:
    """The top shapes as a table, then each recommendation with its evidence and fix."""

    def ms(value: Any) -> str:
        return "-" if value is None else f"{value:g}"

    rows = [
        [
            s["shape"],
            f"{s['model'] or '-'}.{s['action']}",
            str(s["calls"]),
            str(s["errors"]),
            ms(s["latency_ms"]["p50"]),
            ms(s["latency_ms"]["p95"]),
            ms(s["latency_ms"]["p99"]),
            ms(s["latency_ms"]["total"]),
            ms(s["rows"]["avg"]),
            str(s["bytes"]["total"]),
            f"{s['cache']['hits'] + s['cache']['stale']}/{s['calls']}",
        ]
        for s in result["shapes"][:top]
    ]
    lines = [f"database {result['database']}, last {result['window']} (since {result['since']})", ""]
    header = ["SHAPE", "OPERATION", "CALLS", "ERRORS", "P50 MS", "P95 MS", "P99 MS", "TOTAL MS", "ROWS"]
    lines.append(table([*header, "BYTES", "HITS/MISSES"], rows) if rows else "no queries in this window")
    lines += ["", f"{len(result['recommendations'])} recommendation(s)"]
    for number, found in enumerate(result["recommendations"], 1):
        lines += [
            "",
            f"{number}. [{found['rule']}] {found['title']}",
            f"   evidence: {json.dumps(found['evidence'], separators=(', ', ': '))}",
            f"   gain:     {found['gain']}",
            f"   fix:      {found['fix']}",
        ]
    lines += [f"note: {remark}" for remark in result.get("remarks", [])]
    return "\n".join(lines)


# --- the parser --------------------------------------------------------------------------------------


def add_command(sub: Any, common: list[argparse.ArgumentParser]) -> None:
    """Register the `insights` command on the CLI's subparsers."""
    p = sub.add_parser(
        "insights", help="a database's top query shapes and recommendations to speed them up", parents=common
    )
    p.add_argument("name", help="database")
    p.add_argument("--window", choices=["hour", "day", "week"], default="day", help="default: day")
    p.add_argument("--top", type=int, default=20, help="shapes listed (default 20)")
    p.set_defaults(run=cmd_insights)
