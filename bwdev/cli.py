"""`breakwater`: manage databases and keys of a running stack, or run the dev stack.

The CLI finds the stack through flags, then BREAKWATER_ORIGIN_URL / BREAKWATER_ADMIN_TOKEN, then the
nearest `.breakwater/dev.json` (written by `scripts/dev`). `--json`, `--origin` and `--admin-token`
go anywhere on the line.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
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
    """BREAKWATER_HOME's dev.json (as scripts/dev uses it), else the nearest `.breakwater/dev.json`."""
    home = os.environ.get("BREAKWATER_HOME")
    if home:
        path = Path(home) / "dev.json"
        return path if path.exists() else None
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


def table(header: list[str], rows: list[list[str]]) -> str:
    """Columns as wide as their widest cell, the header first."""
    widths = [max(len(str(cell)) for cell in column) for column in zip(header, *rows, strict=True)]
    return "\n".join(
        "  ".join(str(cell).ljust(width) for cell, width in zip(line, widths, strict=True)).rstrip()
        for line in [header, *rows]
    )


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
    rows = [[d["name"], d["id"], d["placement"], f"{d['host']}/{d['instance']}"] for d in result["databases"]]
    human = table(["NAME", "ID", "PLACEMENT", "HOST/INSTANCE"], rows) if rows else ""
    _print(args, result, human or "no databases yet: `breakwater db create NAME`")


def cmd_db_show(args: argparse.Namespace) -> None:
    result = _call(args, "GET", f"/admin/databases/{args.name}")
    db, instance = result["database"], result["instance"] or {}
    keys = [
        [k["id"], k["scope"], "revoked" if k["revoked_at"] else "active", k["label"]] for k in result["keys"]
    ]
    lines = [
        f"database   {db['name']} ({db['id']})",
        f"placement  {db['placement']} on {db['host']}/{db['instance']}",
        f"state      {instance.get('state', 'unknown')}",
        f"url        {result['url']}   (KEY: a key of this database; `breakwater key create {db['name']}`)",
        f"postgres   {result['postgres_dsn']}",
        "",
        table(["KEY", "SCOPE", "STATE", "LABEL"], keys) if keys else "no keys",
    ]
    _print(args, result, "\n".join(lines))


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
        [name, str(value), "this database" if name in overrides else "default"]
        for name, value in result["limits"].items()
    ]
    _print(args, result, table(["LIMIT", "VALUE", "SET BY"], rows))


def cmd_key_create(args: argparse.Namespace) -> None:
    scope = "read" if args.read_only else "admin" if args.admin else "read-write"
    result = _call(args, "POST", "/admin/keys", {"database": args.name, "scope": scope, "label": args.label})
    _print(args, result, f"{result['url']}\n\nkey {result['key']['id']} ({scope}) for {args.name}")


def cmd_key_list(args: argparse.Namespace) -> None:
    result = _call(args, "GET", f"/admin/keys?database={args.name}")
    rows = [
        [k["id"], k["scope"], "revoked" if k["revoked_at"] else "active", k["created_at"][:19], k["label"]]
        for k in result["keys"]
    ]
    human = table(["ID", "SCOPE", "STATE", "CREATED", "LABEL"], rows) if rows else f"{args.name} has no keys"
    _print(args, result, human)


def cmd_key_revoke(args: argparse.Namespace) -> None:
    result = _call(args, "POST", f"/admin/keys/{args.key_id}/revoke")
    if result.get("already_revoked"):
        human = f"{args.key_id} was already revoked (at {result['key']['revoked_at']}); nothing changed"
    else:
        human = f"revoked {args.key_id}: requests with it now get P6002"
    _print(args, result, human)


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


def cmd_env(args: argparse.Namespace) -> None:
    """Shell exports for the dev stack's database: `eval "$(breakwater env)"`."""
    found = find_dev_json()
    if found is None:
        raise CliError("No dev stack found (no .breakwater/dev.json).", "Start one with `scripts/dev`.")
    info = json.loads(found.read_text())
    values = {
        "DATABASE_URL": info["url"],  # what Prisma and our client take
        "DIRECT_URL": info["postgres_dsn"],  # Postgres itself, for psql and migrations
        "EDGE": info["edge_url"],
        "KEY": info["api_key"],
    }
    if args.json:
        print(json.dumps(values, indent=2))
        return
    print("\n".join(f"export {name}={shlex.quote(value)}" for name, value in values.items()))


def cmd_dev(args: argparse.Namespace) -> None:
    from .dev import run_dev

    run_dev(wrangler=args.wrangler, edge_port=args.port)


def _common(suppress: bool) -> argparse.ArgumentParser:
    """The options every command takes, wherever they stand on the line. On subcommands their
    default is SUPPRESS, so a value given before the subcommand is not reset by it."""
    parser = argparse.ArgumentParser(add_help=False)
    default = argparse.SUPPRESS if suppress else None
    parser.add_argument("--origin", default=default, help="origin URL (default: from .breakwater/dev.json)")
    parser.add_argument(
        "--admin-token", default=default, help="operator token (default: from .breakwater/dev.json)"
    )
    parser.add_argument(
        "--json",
        action="store_true",
        default=argparse.SUPPRESS if suppress else False,
        help="print machine-readable JSON",
    )
    return parser


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="breakwater",
        description=__doc__.splitlines()[0],
        parents=[_common(suppress=False)],
        epilog="Every command: `breakwater COMMAND --help`.",
    )
    common = [_common(suppress=True)]
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def group(name: str, help: str) -> Any:
        return sub.add_parser(name, help=help, parents=common).add_subparsers(
            dest="action", required=True, metavar="ACTION"
        )

    db = group("db", "databases: create, list, show, limits, delete")
    p = db.add_parser("create", help="provision a database and print its connection URL", parents=common)
    p.add_argument("name")
    p.add_argument(
        "--dedicated",
        action="store_true",
        help="its own Postgres instance (pause/resume, own config) instead of a shared cluster",
    )
    p.set_defaults(run=cmd_db_create)
    db.add_parser("list", help="list databases", parents=common).set_defaults(run=cmd_db_list)
    p = db.add_parser(
        "show", help="a database's placement, state, URL, Postgres DSN and keys", parents=common
    )
    p.add_argument("name")
    p.set_defaults(run=cmd_db_show)
    p = db.add_parser("delete", help="delete a database and its data, and revoke its keys", parents=common)
    p.add_argument("name")
    p.set_defaults(run=cmd_db_delete)
    p = db.add_parser("limits", help="show a database's limits, or override some with --set", parents=common)
    p.add_argument("name")
    p.add_argument(
        "--set",
        action="append",
        metavar="LIMIT=VALUE",
        help="e.g. query_timeout_ms=5000 or response_bytes=default (repeatable)",
    )
    p.set_defaults(run=cmd_db_limits)

    key = group("key", "API keys: create, list, revoke")
    p = key.add_parser("create", help="create a key for database NAME and print its URL", parents=common)
    p.add_argument("name")
    scope = p.add_mutually_exclusive_group()
    scope.add_argument("--read-only", action="store_true", help="the key can only read")
    scope.add_argument("--admin", action="store_true", help="the key may also manage the database")
    p.add_argument("--label", default="")
    p.set_defaults(run=cmd_key_create)
    p = key.add_parser("list", help="list the keys of database NAME", parents=common)
    p.add_argument("name")
    p.set_defaults(run=cmd_key_list)
    p = key.add_parser("revoke", help="revoke a key by its id (see `key list`)", parents=common)
    p.add_argument("key_id")
    p.set_defaults(run=cmd_key_revoke)

    tables = group("table", "tables of a database: full-images")
    p = tables.add_parser(
        "full-images",
        help="REPLICA IDENTITY FULL on or off: complete `before` images in change events",
        parents=common,
    )
    p.add_argument("name", help="database")
    p.add_argument("table", help="table name in Postgres")
    p.add_argument("state", choices=["on", "off"])
    p.set_defaults(run=cmd_table_full_images)

    p = sub.add_parser(
        "env",
        help="shell exports (DATABASE_URL, DIRECT_URL, EDGE, KEY) of the dev stack's database",
        parents=common,
    )
    p.set_defaults(run=cmd_env)

    p = sub.add_parser("dev", help="run the whole stack on loopback (what scripts/dev does)", parents=common)
    p.add_argument("--wrangler", action="store_true", help="run the edge in `wrangler dev` (needs internet)")
    p.add_argument(
        "--port", type=int, default=None, help="edge port (8787); the origin and host agent take the next two"
    )
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
