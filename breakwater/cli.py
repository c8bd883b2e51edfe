"""`breakwater`: manage databases and keys of a running stack, or run the dev stack.

The CLI finds the stack through flags, then BREAKWATER_ORIGIN_URL / BREAKWATER_ADMIN_TOKEN, then the
nearest `.breakwater/dev.json` (written by `scripts/dev`).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

import httpx


class CliError(Exception):
    def __init__(self, message: str, hint: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint


def find_dev_json(start: Path | None = None) -> Path | None:
    here = (start or Path.cwd()).resolve()
    for folder in [here, *here.parents]:
        candidate = folder / ".breakwater" / "dev.json"
        if candidate.exists():
            return candidate
    return None


def _target(args: argparse.Namespace) -> tuple[str, str]:
    origin = args.origin or os.environ.get("BREAKWATER_ORIGIN_URL")
    token = args.admin_token or os.environ.get("BREAKWATER_ADMIN_TOKEN")
    if not (origin and token):
        found = find_dev_json()
        if found is not None:
            info = json.loads(found.read_text())
            origin = origin or info.get("origin_url")
            token = token or info.get("admin_token")
    if not (origin and token):
        raise CliError(
            "No running stack found.",
            "Start one with `scripts/dev`, or pass --origin and --admin-token "
            "(or set BREAKWATER_ORIGIN_URL and BREAKWATER_ADMIN_TOKEN).",
        )
    return origin.rstrip("/"), token


def _call(
    args: argparse.Namespace, method: str, path: str, body: dict[str, Any] | None = None
) -> dict[str, Any]:
    origin, token = _target(args)
    try:
        response = httpx.request(
            method, origin + path, json=body, headers={"authorization": f"Bearer {token}"}, timeout=120
        )
    except httpx.HTTPError as exc:
        raise CliError(
            f"Could not reach the origin at {origin}: {exc}", "Is `scripts/dev` running?"
        ) from None
    try:
        payload: dict[str, Any] = response.json()
    except ValueError:
        raise CliError(f"The origin answered {response.status_code} with: {response.text[:200]}") from None
    if response.status_code >= 400:
        raise CliError(
            f"{payload.get('message', response.text)} [{payload.get('code', response.status_code)}]",
            str(payload.get("hint", "")),
        )
    return payload


def _print(args: argparse.Namespace, payload: dict[str, Any], human: str) -> None:
    print(json.dumps(payload, indent=2) if args.json else human)


def cmd_db_create(args: argparse.Namespace) -> None:
    placement = "dedicated" if args.dedicated else "shared"
    result = _call(args, "POST", "/admin/databases", {"name": args.name, "placement": placement})
    _print(
        args,
        result,
        f"{result['url']}\n\ndatabase {result['database']['name']} ({result['database']['id']}) created"
        f" ({result['database']['placement']})"
        f"\nkey {result['key']['id']} (read-write)\npostgres: {result['postgres_dsn']}",
    )


def cmd_db_list(args: argparse.Namespace) -> None:
    result = _call(args, "GET", "/admin/databases")
    rows = [
        f"{d['name']:<24} {d['id']:<16} {d['placement']:<9} {d['host']}/{d['instance']}"
        for d in result["databases"]
    ]
    _print(args, result, "\n".join(rows) if rows else "no databases yet: `breakwater db create NAME`")


def cmd_db_delete(args: argparse.Namespace) -> None:
    result = _call(args, "DELETE", f"/admin/databases/{args.name}")
    _print(args, result, f"deleted {args.name}; revoked {len(result['revoked_keys'])} key(s)")


def _limit_changes(settings: list[str]) -> dict[str, int | None]:
    changes: dict[str, int | None] = {}
    for setting in settings:
        name, sep, value = setting.partition("=")
        if not sep or not name:
            raise CliError(f"--set takes NAME=VALUE, not {setting!r}.", "e.g. --set query_timeout_ms=5000")
        if value == "default":
            changes[name] = None
            continue
        try:
            changes[name] = int(value.replace("_", ""))
        except ValueError:
            raise CliError(f"{name}: {value!r} is not a whole number or `default`.") from None
    return changes


def cmd_db_limits(args: argparse.Namespace) -> None:
    path = f"/admin/databases/{args.name}/limits"
    changes = _limit_changes(args.set or [])
    result = _call(args, "PUT", path, changes) if changes else _call(args, "GET", path)
    overrides = result["overrides"]
    rows = [
        f"{name:<32} {value:>12}  {'(set for this database)' if name in overrides else '(default)'}"
        for name, value in result["limits"].items()
    ]
    _print(args, result, "\n".join(rows))


def cmd_key_create(args: argparse.Namespace) -> None:
    scope = "read" if args.read_only else "admin" if args.admin else "read-write"
    result = _call(args, "POST", "/admin/keys", {"database": args.name, "scope": scope, "label": args.label})
    _print(args, result, f"{result['url']}\n\nkey {result['key']['id']} ({scope}) for {args.name}")


def cmd_key_list(args: argparse.Namespace) -> None:
    result = _call(args, "GET", f"/admin/keys?database={args.name}")
    rows = [
        f"{k['id']:<16} {k['scope']:<10} {'revoked' if k['revoked_at'] else 'active':<8} {k['label']}"
        for k in result["keys"]
    ]
    _print(args, result, "\n".join(rows))


def cmd_key_revoke(args: argparse.Namespace) -> None:
    result = _call(args, "POST", f"/admin/keys/{args.key_id}/revoke")
    _print(args, result, f"revoked {args.key_id}")


def cmd_table_full_images(args: argparse.Namespace) -> None:
    full = args.state == "on"
    path = f"/admin/databases/{args.name}/tables/{args.table}/full-images"
    result = _call(args, "PUT", path, {"full": full})
    meaning = (
        "updates carry complete `before` images and deletes complete records"
        if full
        else "updates and deletes carry the primary key only in `before` / `deleted`"
    )
    _print(args, result, f"{args.name}.{args.table}: full images {args.state} ({meaning})")


def cmd_dev(args: argparse.Namespace) -> None:
    from .dev import run_dev

    run_dev(wrangler=args.wrangler, edge_port=args.port)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="breakwater", description=__doc__.splitlines()[0])
    parser.add_argument("--origin", help="origin URL (default: from .breakwater/dev.json)")
    parser.add_argument("--admin-token", help="operator token (default: from .breakwater/dev.json)")
    parser.add_argument("--json", action="store_true", help="print machine-readable JSON")
    sub = parser.add_subparsers(dest="command", required=True)

    db = sub.add_parser("db", help="databases").add_subparsers(dest="action", required=True)
    p = db.add_parser("create", help="provision a database and print its connection URL")
    p.add_argument("name")
    p.add_argument(
        "--dedicated",
        action="store_true",
        help="its own Postgres instance (pause/resume, own config) instead of a shared cluster",
    )
    p.set_defaults(run=cmd_db_create)
    db.add_parser("list", help="list databases").set_defaults(run=cmd_db_list)
    p = db.add_parser("delete", help="delete a database and revoke its keys")
    p.add_argument("name")
    p.set_defaults(run=cmd_db_delete)
    p = db.add_parser("limits", help="show a database's limits, or override some with --set")
    p.add_argument("name")
    p.add_argument(
        "--set",
        action="append",
        metavar="LIMIT=VALUE",
        help="e.g. query_timeout_ms=5000 or response_bytes=default (repeatable)",
    )
    p.set_defaults(run=cmd_db_limits)

    key = sub.add_parser("key", help="API keys").add_subparsers(dest="action", required=True)
    p = key.add_parser("create", help="create a key for database NAME and print its URL")
    p.add_argument("name")
    scope = p.add_mutually_exclusive_group()
    scope.add_argument("--read-only", action="store_true", help="the key can only read")
    scope.add_argument("--admin", action="store_true", help="the key may also manage the database")
    p.add_argument("--label", default="")
    p.set_defaults(run=cmd_key_create)
    p = key.add_parser("list", help="list the keys of database NAME")
    p.add_argument("name")
    p.set_defaults(run=cmd_key_list)
    p = key.add_parser("revoke", help="revoke a key by its id")
    p.add_argument("key_id")
    p.set_defaults(run=cmd_key_revoke)

    table = sub.add_parser("table", help="tables of a database").add_subparsers(dest="action", required=True)
    p = table.add_parser(
        "full-images", help="REPLICA IDENTITY FULL on or off: complete `before` images in change events"
    )
    p.add_argument("name", help="database")
    p.add_argument("table", help="table name in Postgres")
    p.add_argument("state", choices=["on", "off"])
    p.set_defaults(run=cmd_table_full_images)

    p = sub.add_parser("dev", help="run the whole stack on loopback (what scripts/dev does)")
    p.add_argument("--wrangler", action="store_true", help="run the edge in `wrangler dev` (needs internet)")
    p.add_argument("--port", type=int, default=8787, help="edge port")
    p.set_defaults(run=cmd_dev)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        args.run(args)
    except CliError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        if exc.hint:
            print(f"hint: {exc.hint}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
