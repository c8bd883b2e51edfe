"""`breakwater`: manage a running stack (databases, keys, workspaces, plans, limits, usage), or run one.

The CLI finds the stack through flags, then BREAKWATER_ORIGIN_URL / BREAKWATER_ADMIN_TOKEN, then the
nearest `.breakwater/dev.json` (written by `scripts/dev`). `--json`, `--origin` and `--admin-token`
go anywhere on the line.
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
from typing import Any

from . import hostcli, insightscli, usagecli
from .cliutil import CliError, find_dev_json, table
from .cliutil import call as _call
from .cliutil import emit as _print


def cmd_db_create(args: argparse.Namespace) -> None:
    placement = "dedicated" if args.dedicated else "shared"
    body: dict[str, Any] = {"name": args.name, "placement": placement, "workspace": args.workspace}
    if args.host:
        body["host"] = args.host
    result = _call(args, "POST", "/admin/databases", body)
    _print(
        args,
        result,
        f"{result['url']}\n\ndatabase {result['database']['name']} ({result['database']['id']}) created"
        f" ({result['database']['placement']}, workspace {result['database']['workspace']},"
        f" on host {result['database']['host']})"
        f"\nkey {result['key']['id']} (read-write)\npostgres: {result['postgres_dsn']}",
    )


def cmd_db_list(args: argparse.Namespace) -> None:
    result = _call(
        args, "GET", "/admin/databases" + (f"?workspace={args.workspace}" if args.workspace else "")
    )
    rows = [
        [d["name"], d["id"], d["placement"], f"{d['host']}/{d['instance']}", d["workspace"]]
        for d in result["databases"]
    ]
    human = table(["NAME", "ID", "PLACEMENT", "HOST/INSTANCE", "WORKSPACE"], rows) if rows else ""
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


def cmd_db_move(args: argparse.Namespace) -> None:
    result = _call(args, "POST", f"/admin/databases/{args.name}/move", {"host": args.to})
    move = result["move"]
    _print(
        args,
        result,
        f"moved {move['database']} from {move['from']} to {move['to']} "
        f"(unavailable for {move['unavailable_ms']} ms; its URL and keys are unchanged)",
    )


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
    overrides, plan = result["overrides"], result.get("plan") or {}
    plan_limits = plan.get("limits") or {}

    def set_by(name: str) -> str:
        if name in overrides:
            return "this database"
        return f"plan {plan.get('name')}" if name in plan_limits else "default"

    rows = [[name, str(value), set_by(name)] for name, value in result["limits"].items()]
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

    if args.origins < 1:
        raise CliError("--origins takes a number from 1.")
    if not 1 <= args.hosts <= 9:
        raise CliError("--hosts takes 1 to 9 host agents.")
    run_dev(wrangler=args.wrangler, edge_port=args.port, origins=args.origins, hosts=args.hosts)


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

    db = group("db", "databases: create, list, show, move, limits, delete")
    p = db.add_parser("create", help="provision a database and print its connection URL", parents=common)
    p.add_argument("name")
    p.add_argument("--workspace", default="default", help="the workspace it belongs to (default: default)")
    p.add_argument(
        "--dedicated",
        action="store_true",
        help="its own Postgres instance (pause/resume, own config) instead of a shared cluster",
    )
    p.add_argument("--host", help="put it on this host (default: the host with the most room)")
    p.set_defaults(run=cmd_db_create)
    p = db.add_parser(
        "move", help="move a database to another host (its URL and keys stay the same)", parents=common
    )
    p.add_argument("name")
    p.add_argument("--to", required=True, metavar="HOST", help="the host's id (`breakwater host list`)")
    p.set_defaults(run=cmd_db_move)
    p = db.add_parser("list", help="list databases", parents=common)
    p.add_argument("--workspace", help="only this workspace's")
    p.set_defaults(run=cmd_db_list)
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

    usagecli.add_commands(sub, common, group)
    hostcli.add_commands(common, group)

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

    insightscli.add_command(sub, common)

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
    p.add_argument(
        "--origins",
        type=int,
        default=1,
        metavar="N",
        help="origin processes (1); they divide each host's connection budget, the edge balances over "
        "them; the second and later take free ports",
    )
    p.add_argument(
        "--hosts",
        type=int,
        default=1,
        metavar="N",
        help="host agents (each its own data directory and ports; the extra ones take free ports)",
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
