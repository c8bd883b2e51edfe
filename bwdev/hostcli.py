"""The CLI's host commands: `host list|show|drain|cordon|uncordon|reset-token` (the control plane's
hosts, origin/api/hostadmin.py)."""

from __future__ import annotations

import argparse
import json
import time
from typing import Any

from .cliutil import CliError, call, emit, table


def _mib(value: Any) -> str:
    return f"{int(value) // 2**20} MiB" if isinstance(value, int) else "?"


def cmd_host_list(args: argparse.Namespace) -> None:
    result = call(args, "GET", "/admin/hosts")
    rows = []
    for h in result["hosts"]:
        cap = h["capacity"]
        seen = "never" if h["last_seen_seconds"] is None else f"{h['last_seen_seconds']}s ago"
        limit = f"/{cap['max_databases']}" if cap.get("max_databases") else ""
        rows.append(
            [
                h["id"],
                h["state"],
                "yes" if h["reachable"] else "NO",
                seen,
                f"{h['databases']}{limit}",
                _mib(cap["memory_available_kb"] * 1024 if "memory_available_kb" in cap else None),
                _mib(cap.get("disk_free_bytes")),
                h["url"],
            ]
        )
    header = ["HOST", "STATE", "REACHABLE", "REPORTED", "DATABASES", "MEMORY FREE", "DISK FREE", "AGENT"]
    emit(args, result, table(header, rows) if rows else "no host has registered yet")


def cmd_host_show(args: argparse.Namespace) -> None:
    result = call(args, "GET", f"/admin/hosts/{args.host_id}")
    host = result["host"]
    lines = [
        f"host       {host['id']} ({host['state']}, {'reachable' if host['reachable'] else 'UNREACHABLE'})",
        f"agent      {host['url']}   proxy {host['proxy']}",
        f"reported   {host['last_seen_seconds']}s ago: {json.dumps(host['capacity'], sort_keys=True)}",
        "",
        table(
            ["DATABASE", "PLACEMENT", "INSTANCE", "MOVING"],
            [
                [d["name"], d["placement"], d["instance"], "yes" if d["moving"] else ""]
                for d in result["databases"]
            ],
        )
        if result["databases"]
        else "no databases",
    ]
    if result["moves"]:
        lines += [
            "",
            table(
                ["MOVE", "DATABASE", "FROM", "TO", "STATE", "STEP", "UNAVAILABLE", "ERROR"],
                [
                    [
                        m["id"],
                        m["database"],
                        m["source"],
                        m["target"],
                        m["state"],
                        m["step"],
                        "" if m["unavailable_ms"] is None else f"{m['unavailable_ms']} ms",
                        m["error"] or "",
                    ]
                    for m in result["moves"]
                ],
            ),
        ]
    emit(args, result, "\n".join(lines))


def cmd_host_action(args: argparse.Namespace) -> None:
    result = call(args, "POST", f"/admin/hosts/{args.host_id}/{args.action}")
    host = result["host"]
    if args.action == "drain" and args.wait:
        deadline = time.monotonic() + args.wait
        while host["state"] == "draining" and time.monotonic() < deadline:
            time.sleep(0.5)
            host = call(args, "GET", f"/admin/hosts/{args.host_id}")["host"]
        if host["state"] == "draining":
            raise CliError(
                f"{args.host_id} still holds {host['databases']} database(s) after {args.wait:g}s.",
                f"`breakwater host show {args.host_id}` lists them and the moves' errors.",
            )
        result = {"host": host}
    said = {
        "drain": "drained: it holds no databases"
        if host["state"] == "drained"
        else f"draining: its {host['databases']} database(s) move to other hosts",
        "cordon": "cordoned: it takes no new databases",
        "uncordon": "active: it takes new databases again",
        "reset-token": "its next report binds a new agent token",
    }[args.action]
    emit(args, result, f"{args.host_id} {said}")


# --- the parser --------------------------------------------------------------------------------------


def add_commands(common: list[argparse.ArgumentParser], group: Any) -> None:
    """Register the `host` command group (`group(name, help)` makes a command group)."""
    host = group("host", "list, show, drain, cordon, uncordon, reset-token")
    host.add_parser(
        "list", help="the registered hosts: state, last report, databases, room", parents=common
    ).set_defaults(run=cmd_host_list)
    p = host.add_parser("show", help="a host's report, databases and recent moves", parents=common)
    p.add_argument("host_id")
    p.set_defaults(run=cmd_host_show)
    for action, text in (
        ("drain", "move every database of the host to other hosts, then mark it drained"),
        ("cordon", "the host keeps its databases but takes no new ones"),
        ("uncordon", "the host takes new databases again (stops a drain)"),
        ("reset-token", "the host's next report binds a new agent token"),
    ):
        p = host.add_parser(action, help=text, parents=common)
        p.add_argument("host_id")
        if action == "drain":
            p.add_argument(
                "--wait", type=float, default=0, metavar="SECONDS", help="wait this long for it to finish"
            )
        p.set_defaults(run=cmd_host_action, action=action)
